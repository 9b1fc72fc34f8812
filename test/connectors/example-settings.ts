/** vSphere settings that pass validation and name a vCenter nobody runs: for tests that never connect. */
export const EXAMPLE_VSPHERE_SETTINGS = {
  vcenter: 'vcenter.example.com',
  user: 'administrator@vsphere.local',
  datacenter: 'DC1',
  host: 'esx01.example.com',
  datastore: 'datastore1',
  network: 'VM Network',
};
