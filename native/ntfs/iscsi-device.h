#ifndef LAMINA_ISCSI_DEVICE_H
#define LAMINA_ISCSI_DEVICE_H
#include "ntfs.h"
#include <ntfs-3g/device.h>

/*
 * A read-only libntfs-3g device on a window of an iSCSI LUN, read through libiscsi (a userspace
 * initiator: no kernel module, no root): how a Compositing Engine reads the layers the appliance
 * serves it (ARCHITECTURE.md §5). Volume names "iscsi:OFFSET:SIZE:URL" select it, URL being
 * iscsi://HOST[:PORT]/IQN/LUN; SIZE 0 reaches to the LUN's end.
 *
 * Credentials never appear in the name (it is an argument, visible to every user of the machine):
 * they come from the environment, with the initiator's name and the login timeout:
 *   LAMINA_ISCSI_INITIATOR    the initiator IQN the target's ACL admits
 *   LAMINA_ISCSI_CHAP_USER, LAMINA_ISCSI_CHAP_SECRET   CHAP, when the target asks for it
 *   LAMINA_ISCSI_TARGET_CHAP_USER, LAMINA_ISCSI_TARGET_CHAP_SECRET   mutual CHAP: what the target
 *                             must present back
 *   LAMINA_ISCSI_TIMEOUT      seconds a login or a read may take (default 15): a portal that never
 *                             answers fails the command instead of hanging it
 */
#define ISCSI_PREFIX "iscsi:"

struct ntfs_device *iscsi_device_open(const char *spec);

#endif
