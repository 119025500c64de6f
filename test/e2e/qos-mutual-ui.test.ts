/**
 * QoS limits and mutual CHAP in the web UI (real chromium, logins on).
 * - File images (octet 125): the "Limits (QoS)" section says the storage cannot enforce limits, its
 *   fields disabled; mutual CHAP set in the add form (a target password equal to the CHAP password is
 *   refused beside its field before sending), shown on the disk page, never the secret; the edit form
 *   keeps it when other fields change, and removes it.
 * - Ceph RBD + etcd (octet 126): a limit set in the add form (bad text refused beside its field), shown
 *   on the disk page, raised in the edit form: the image's librbd override follows, the disk stays
 *   started. (The rate measured through iSCSI: test/integration/qos.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { run } from '../../src/adapters/exec.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { CEPH_TOOLS, type CephCluster, type EtcdCluster, startEtcd, stopSharedCeph, whenCephReady } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { uiLogin } from './ui.js';

const ADMIN_PASSWORD = 'Correct-Horse-42';
const CHAP = { user: 'host1', password: 'Host-Secret-12' };
const TARGET = { user: 'target1', password: 'Target-Secret-9' };

async function openAddForm(page: Page, url: string, name: string): Promise<void> {
  await page.goto(`${url}/disks`);
  await page.getByTestId('add-disk').click();
  await page.getByTestId('add-disk-form').waitFor();
  await page.getByTestId('field-name').fill(name);
  await page.getByTestId('field-sizeGb').fill('1');
  await page.getByTestId('field-activePaths').selectOption('1');
}

/** Submits the add form and returns the new disk's id (the page goes to the list or the disk). */
async function createDisk(page: Page, admin: LoggedIn, name: string): Promise<string> {
  await page.getByTestId('create-disk').click();
  await page.getByTestId('add-disk-form').waitFor({ state: 'detached' });
  const disks = (await admin.api('GET', '/api/v1/disks')).json.disks as { id: string; name: string }[];
  const d = disks.find((x) => x.name === name);
  assert.ok(d, `disk ${name} added`);
  return d.id;
}

const fileSkip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);

describe('mutual CHAP and QoS in the web UI, file images (chromium)', { skip: fileSkip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;

  before(async () => {
    tp = await startTestProduct(125, withAuth({ adminPassword: ADMIN_PASSWORD }));
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('QoS fields disabled with the reason; mutual CHAP set, shown without its secret, kept by an edit, removed', async () => {
    await openAddForm(page, tp.product.url, 'mutual-ui');
    await page.getByTestId('field-qos-toggle').click();
    assert.equal(await page.getByTestId('field-qos-iops').isDisabled(), true);
    assert.match((await page.getByTestId('field-qos').textContent()) ?? '', /cannot enforce limits/);

    await page.getByTestId('field-auth-chap').check();
    await page.getByTestId('field-chap.user').fill(CHAP.user);
    await page.getByTestId('field-chap.password').fill(CHAP.password);
    await page.getByTestId('field-mutual').check();
    await page.getByTestId('field-chap.targetUser').fill(TARGET.user);
    await page.getByTestId('field-chap.targetPassword').fill(CHAP.password);
    await page.getByTestId('create-disk').click();
    const err = page.getByTestId('error-chap.targetPassword');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /differ from the initiator/);
    await page.getByTestId('field-chap.targetPassword').fill(TARGET.password);
    const id = await createDisk(page, admin, 'mutual-ui');
    assert.equal((await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.targetChapUser, TARGET.user);

    await page.goto(`${tp.product.url}/disks/${id}`);
    await page.getByTestId('prop-auth').waitFor();
    assert.match((await page.getByTestId('prop-auth').textContent()) ?? '', /mutual, target user target1/);
    assert.equal((await page.getByTestId('prop-qos').textContent())?.trim(), 'None');

    // edit: the target's password is never shown back; renaming keeps mutual CHAP
    await page.getByTestId('detail-edit').click();
    await page.getByTestId('edit-disk-form').waitFor();
    assert.equal(await page.getByTestId('edit-mutual').isChecked(), true);
    assert.equal(await page.getByTestId('edit-chap-target-user').inputValue(), TARGET.user);
    assert.equal(await page.getByTestId('edit-chap-target-password').inputValue(), '');
    assert.equal((await page.content()).includes(TARGET.password), false, 'the target secret is not in the page');
    await page.getByTestId('edit-name').fill('mutual-ui2');
    await page.getByTestId('save-disk').click();
    await page.getByTestId('edit-disk-form').waitFor({ state: 'detached' });
    let d = (await admin.api('GET', `/api/v1/disks/${id}`)).json.disk;
    assert.equal(d.name, 'mutual-ui2');
    assert.equal(d.targetChapUser, TARGET.user);
    // a new initiator password with mutual CHAP kept (its password left empty: kept)
    await page.getByTestId('detail-edit').click();
    await page.getByTestId('edit-chap-password').fill('Host-Secret-34');
    await page.getByTestId('save-disk').click();
    await page.getByTestId('edit-disk-form').waitFor({ state: 'detached' });
    assert.equal((await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.targetChapUser, TARGET.user);
    // removed
    await page.getByTestId('detail-edit').click();
    await page.getByTestId('edit-mutual').uncheck();
    await page.getByTestId('save-disk').click();
    await page.getByTestId('edit-disk-form').waitFor({ state: 'detached' });
    d = (await admin.api('GET', `/api/v1/disks/${id}`)).json.disk;
    assert.equal(d.targetChapUser, '');
    assert.equal(d.chapUser, CHAP.user);
    await page.waitForFunction(() => !document.querySelector('[data-testid="prop-auth"]')?.textContent?.includes('mutual'));
    const audit = JSON.stringify((await admin.api('GET', '/api/v1/audit?limit=20')).json);
    assert.equal(audit.includes(TARGET.password), false, 'no secret in the audit log');
  });
});

const cephSkip = missingTools(['tgtd', 'tgtadm', CHROMIUM, 'etcd', ...CEPH_TOOLS]);

describe('QoS limits in the web UI, Ceph RBD (chromium)', { skip: cephSkip, timeout: 400_000 }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;
  let ceph: CephCluster;
  let etcd: EtcdCluster;

  before(async () => {
    const [c, e] = await Promise.all([whenCephReady(), startEtcd({ members: 1 })]);
    ceph = c;
    etcd = e;
    tp = await startTestProduct(126, {
      ...withAuth({ adminPassword: ADMIN_PASSWORD }),
      images: { kind: 'rbd', conf: ceph.conf, keyring: ceph.keyring, id: ceph.id, pool: ceph.pool },
      coord: { kind: 'etcd', endpoints: etcd.endpoints },
    });
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
    await etcd?.stop();
    await stopSharedCeph();
  });

  const imageQos = async (id: string) => {
    const { stdout } = await run('rbd', ['-c', ceph.conf, '--id', ceph.id, 'image-meta', 'list', '--format', 'json', `${ceph.pool}/image-${id}`], {
      timeoutMs: 30_000,
    });
    const meta = JSON.parse(stdout || '{}') as Record<string, string>;
    return Object.fromEntries(Object.entries(meta).filter(([k]) => k.startsWith('conf_rbd_qos_')));
  };

  it('a limit set in the add form, shown on the disk page, raised in the edit form (live, the disk stays started)', async () => {
    await openAddForm(page, tp.product.url, 'qos-ui');
    await page.getByTestId('field-qos-toggle').click();
    assert.equal(await page.getByTestId('field-qos-iops').isDisabled(), false);
    await page.getByTestId('field-qos-iops').fill('lots');
    await page.getByTestId('create-disk').click();
    const err = page.getByTestId('error-qos.iops');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /IOPS limit must be a whole number/);
    await page.getByTestId('field-qos-iops').fill('500');
    await page.getByTestId('field-qos-readBps').fill('10');
    const id = await createDisk(page, admin, 'qos-ui');
    assert.deepEqual((await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.qos, { iops: 500, readBps: 10 * 1024 * 1024 });
    assert.deepEqual(await imageQos(id), { conf_rbd_qos_iops_limit: '500', conf_rbd_qos_read_bps_limit: '10485760' });
    await waitFor(async () => ((await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.status === 'started' ? true : undefined), {
      what: 'started',
      timeoutMs: 60_000,
    });

    await page.goto(`${tp.product.url}/disks/${id}`);
    await page.getByTestId('prop-qos').waitFor();
    assert.equal((await page.getByTestId('prop-qos').textContent())?.trim(), '500 IOPS, read 10 MiB/s');

    await page.getByTestId('detail-edit').click();
    await page.getByTestId('edit-disk-form').waitFor();
    assert.equal(await page.getByTestId('edit-qos-iops').inputValue(), '500');
    await page.getByTestId('edit-qos-iops').fill('2000');
    await page.getByTestId('edit-qos-readBps').fill('');
    await page.getByTestId('save-disk').click();
    await page.getByTestId('edit-disk-form').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('[data-testid="prop-qos"]')?.textContent?.trim() === '2000 IOPS');
    assert.deepEqual(await imageQos(id), { conf_rbd_qos_iops_limit: '2000' });
    assert.equal((await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.status, 'started');
    const audit = JSON.stringify((await admin.api('GET', '/api/v1/audit?limit=10')).json);
    assert.match(audit, /"qos":\{"iops":\{"from":500,"to":2000\},"readBps":\{"from":10485760,"to":null\}\}/);
  });
});
