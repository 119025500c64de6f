/**
 * The API's wire types: what each request and reply holds, derived from the route schemas
 * (schemas.ts), so the server, the web client (web/src/api.ts) and the CLI read one definition.
 * Type-only: importing it pulls no code into a bundle. A field removed from a reply schema is a type
 * error wherever a client reads it.
 */
import type { Static } from '@sinclair/typebox';
import type * as S from './schemas.js';

export type ErrorBody = Static<typeof S.ErrorBody>;

export type DiskView = Static<typeof S.DiskView>;
export type PathView = Static<typeof S.PathView>;
export type PathRow = Static<typeof S.PathRow>;
export type IpPreview = Static<typeof S.IpPreview>;
export type ConnectedHost = Static<typeof S.ConnectedHost>;
export type AddDiskRequest = Static<typeof S.AddDiskRequest>;
export type EditDiskRequest = Static<typeof S.EditDiskRequest>;
export type AttachRequest = Static<typeof S.AttachRequest>;
export type FreeImage = Static<typeof S.FreeImage>;
export type SnapshotView = Static<typeof S.SnapshotView>;
export type SnapshotList = Static<typeof S.SnapshotList>;
export type CloneRequest = Static<typeof S.CloneRequest>;
export type SnapshotScheduleView = Static<typeof S.SnapshotScheduleView>;
export type ScheduleRunView = Static<typeof S.ScheduleRunView>;
export type SnapshotScheduleState = Static<typeof S.SnapshotScheduleState>;
export type SnapshotScheduleSet = Static<typeof S.SnapshotScheduleSet>;
export type ClusterUsage = Static<typeof S.ClusterUsage>;
export type SubnetView = Static<typeof S.SubnetView>;
export type ClusterConfigView = Static<typeof S.ClusterConfigView>;
export type ClusterSettingsView = Static<typeof S.ClusterSettingsView>;
export type ClusterSettingsChanged = Static<typeof S.ClusterSettingsChanged>;
export type ClusterSettingsPatch = Static<typeof S.ClusterSettingsPatch>;

export type NodeView = Static<typeof S.NodeView>;
export type PathMove = Static<typeof S.PathMove>;
export type MovedPath = Static<typeof S.MovedPath>;
export type MoveRequest = Static<typeof S.MoveRequest>;
export type MoveReply = Static<typeof S.MoveReply>;
export type RebalanceResult = Static<typeof S.RebalanceReply>;

export type Me = Static<typeof S.Me>;
export type UserView = Static<typeof S.UserView>;
export type RoleView = Static<typeof S.RoleView>;
export type TokenView = Static<typeof S.TokenView>;
export type TokenCreated = Static<typeof S.TokenCreated>;
export type AuditEntry = Static<typeof S.AuditEntry>;
export type AuditPage = Static<typeof S.AuditPage>;
export type LoginRequest = Static<typeof S.LoginRequest>;
export type UserCreate = Static<typeof S.UserCreate>;
export type UserUpdate = Static<typeof S.UserUpdate>;
export type RoleCreate = Static<typeof S.RoleCreate>;
export type RoleUpdate = Static<typeof S.RoleUpdate>;

export type ClusterEventView = Static<typeof S.ClusterEventView>;
export type HealthView = Static<typeof S.HealthView>;
export type WebhookView = Static<typeof S.WebhookView>;
export type IoReply = Static<typeof S.IoReply>;
