/** The OpenAPI 3.1 document of the v1 API, served at /api/docs. */

const error = {
  type: 'object',
  required: ['code', 'message', 'details'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object' } },
};

const diskView = {
  type: 'object',
  properties: {
    id: { type: 'string', pattern: '^\\d{5}$' },
    name: { type: 'string' },
    sizeGb: { type: 'integer' },
    iqn: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    pathCount: { type: 'integer' },
    pathsServed: { type: 'integer' },
    status: { enum: ['starting', 'started', 'degraded', 'stopping', 'stopped'] },
    acl: { type: 'string', description: "'' = all initiators" },
    chapUser: { type: 'string', description: "'' = no CHAP; the password is never returned" },
    subnet: { enum: [1, 2, 3] },
    placement: {
      enum: ['shared', 'spread'],
      description:
        "shared (default): every path of the disk on one node, in one target: SCSI-2 reservations, persistent reservations, unit attentions and LUN resets hold across all paths (clusters of hosts sharing the disk: VMware VMFS, Hyper-V CSV, Windows failover clusters, fence_scsi); the paths fail over and move together. spread: paths over several nodes for one host's multipath throughput; reservations then hold per node, NOT per disk: never share a spread disk between hosts that coordinate with reservations. Disks made before placement existed are spread.",
    },
  },
};

const pathView = {
  type: 'object',
  properties: {
    index: { type: 'integer' },
    ip: { type: 'string' },
    subnetMask: { type: 'string' },
    eth: { type: 'string' },
    node: { type: ['string', 'null'] },
    state: { enum: ['unassigned', 'configuring', 'served'] },
    problem: { type: 'string', description: 'Why the path is not served yet, when its node says (e.g. storage fencing failed: Ceph unreachable)' },
  },
};

const addDisk = {
  type: 'object',
  required: ['name', 'sizeGb', 'activePaths', 'subnet'],
  properties: {
    name: { type: 'string', description: '1-64 letters, digits, spaces, . _ -' },
    sizeGb: { type: 'integer', minimum: 1 },
    activePaths: { type: 'integer', minimum: 1, maximum: 8 },
    subnet: { enum: [1, 2, 3], description: '3 = both subnets, paths alternate' },
    ipMode: { enum: ['auto', 'manual'], description: 'activePaths >= 3 forces auto' },
    placement: {
      enum: ['shared', 'spread'],
      description:
        "shared (default): every path of the disk on one node, in one target: SCSI-2 reservations, persistent reservations, unit attentions and LUN resets hold across all paths (clusters of hosts sharing the disk: VMware VMFS, Hyper-V CSV, Windows failover clusters, fence_scsi); the paths fail over and move together. spread: paths over several nodes for one host's multipath throughput; reservations then hold per node, NOT per disk: never share a spread disk between hosts that coordinate with reservations. Disks made before placement existed are spread.",
    },
    path1: { type: 'string' },
    path2: { type: 'string' },
    acl: {
      oneOf: [
        { type: 'object', properties: { mode: { const: 'all' } } },
        { type: 'object', properties: { mode: { const: 'iqn' }, iqn: { type: 'string' } } },
      ],
    },
    auth: {
      oneOf: [
        { type: 'object', properties: { mode: { const: 'none' } } },
        { type: 'object', properties: { mode: { const: 'chap' }, user: { type: 'string' }, password: { type: 'string' } } },
      ],
    },
  },
};

const errors = {
  '400': { description: 'Invalid input', content: { 'application/json': { schema: error } } },
  '404': { description: 'No such disk', content: { 'application/json': { schema: error } } },
  '409': { description: 'Conflicts with existing disks', content: { 'application/json': { schema: error } } },
  '503': {
    description:
      'A backend is unavailable (storage_error, coordination_error, ...), or the server is stopping (server_closing: nothing was done; retry after the Retry-After header\'s seconds)',
    headers: { 'Retry-After': { description: 'With server_closing: seconds to wait before retrying', schema: { type: 'integer' } } },
    content: { 'application/json': { schema: error } },
  },
};

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^\\d{5}$' } };
const diskReply = { description: 'The disk', content: { 'application/json': { schema: { type: 'object', properties: { disk: diskView } } } } };

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Portway API',
    version: '1',
    description:
      'Every error reply is {code, message, details} with a stable code. Any request may get 503 server_closing (with Retry-After) while the server stops: nothing was done, and it is safe to retry.',
  },
  paths: {
    '/api/v1/config': { get: { summary: 'Cluster configuration', responses: { '200': { description: 'The configuration' } } } },
    '/api/v1/disks': {
      get: {
        summary: 'Every disk',
        responses: {
          '200': { description: 'Disks', content: { 'application/json': { schema: { type: 'object', properties: { disks: { type: 'array', items: diskView } } } } } },
          '503': errors['503'],
        },
      },
      post: {
        summary: 'Add a disk (returns at once; the paths are served shortly after)',
        requestBody: { content: { 'application/json': { schema: addDisk } } },
        responses: {
          '201': { description: 'Added', content: { 'application/json': { schema: { type: 'object', properties: { disk: diskView } } } } },
          ...errors,
        },
      },
    },
    '/api/v1/disks/{id}': {
      patch: {
        summary: 'Edit: rename, grow (never shrink), ACL, CHAP, placement (the agents move the paths to match; a started disk stays served) (auth {mode:"chap", user} without password keeps the password)',
        parameters: [idParam],
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { name: addDisk.properties.name, sizeGb: addDisk.properties.sizeGb, acl: addDisk.properties.acl, auth: addDisk.properties.auth, placement: addDisk.properties.placement } } } } },
        responses: { '200': diskReply, ...errors },
      },
      delete: { summary: 'Delete a stopped disk: its image and every key are removed', parameters: [idParam], responses: { '200': { description: '{id}' }, '404': errors['404'], '409': errors['409'] } },
      get: {
        summary: 'One disk',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'The disk', content: { 'application/json': { schema: { type: 'object', properties: { disk: diskView } } } } }, '404': errors['404'] },
      },
    },
    '/api/v1/disks/{id}/paths': {
      get: {
        summary: "A disk's paths: IP and serving node",
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Paths', content: { 'application/json': { schema: { type: 'object', properties: { paths: { type: 'array', items: pathView } } } } } }, '404': errors['404'] },
      },
    },
    '/api/v1/disks/{id}/stop': {
      post: { summary: 'Stop: paths released, targets removed (status stopping, then stopped). Idempotent.', parameters: [idParam], responses: { '200': diskReply, '404': errors['404'] } },
    },
    '/api/v1/disks/{id}/start': {
      post: { summary: 'Start: paths served again. Idempotent.', parameters: [idParam], responses: { '200': diskReply, '404': errors['404'] } },
    },
    '/api/v1/disks/{id}/detach': {
      post: { summary: 'Detach a stopped disk: the image is kept (marked detached), the disk leaves the SAN.', parameters: [idParam], responses: { '200': { description: '{image}' }, '404': errors['404'], '409': errors['409'] } },
    },
    '/api/v1/images': { get: { summary: 'Images that are not disks (detached or made outside Portway)', responses: { '200': { description: '{images: [{image, sizeBytes, name, detached}]}' } } } },
    '/api/v1/images/attach': {
      post: {
        summary: 'Attach an image as a disk: {image, keepPaths: true} keeps a detached disk\'s id, name and IPs; otherwise the add-disk fields apply.',
        requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['image'], properties: { image: { type: 'string' }, keepPaths: { type: 'boolean' }, ...addDisk.properties } } } } },
        responses: { '201': diskReply, ...errors },
      },
    },
    '/api/v1/cluster/usage': { get: { summary: 'Bytes used and total of the storage backend', responses: { '200': { description: '{usedBytes, totalBytes}' }, '503': errors['503'] } } },
    '/api/v1/disks/{id}/paths/{n}/move': {
      post: {
        summary:
          "Move path n to a node: the owner releases it, then only that node takes it (never two owners). A shared disk's paths are served by one node, so every path of a shared disk moves with it. Replies {move: path n's move, moves: every path moved}. Needs AssignPaths.",
        parameters: [idParam, { name: 'n', in: 'path', required: true, schema: { type: 'integer' } }],
        requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['node'], properties: { node: { type: 'string' } } } } } },
        responses: { '200': { description: 'The move is done' }, ...errors },
      },
    },
    '/api/v1/paths/plan': { get: { summary: 'The moves a rebalance would make (paths of a disk on different nodes, even loads)', responses: { '200': { description: '{moves}' } } } },
    '/api/v1/paths/rebalance': { post: { summary: 'Carry out the rebalance plan as moves. Needs AssignPaths.', responses: { '200': { description: '{moves}' }, ...errors } } },
    '/api/v1/nodes': { get: { summary: 'Nodes: name, up, drained, paths held', responses: { '200': { description: '{nodes}' } } } },
    '/api/v1/nodes/{name}/drain': {
      post: { summary: "Drain a node: its paths move away and it takes none. Needs AssignPaths.", parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'Drained' }, ...errors } },
    },
    '/api/v1/nodes/{name}/undrain': {
      post: { summary: 'Undrain a node. Needs AssignPaths.', parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'Undrained' }, ...errors } },
    },
    '/api/v1/events': { get: { summary: 'Server-sent events: `disks` with the whole list on every change', responses: { '200': { description: 'text/event-stream' } } } },
  },
};
