# Native code of Lamina. Each concern is its own target so that they build and load
# independently: lamina_registry wraps hivex (registry hives); lamina_ntfs is the compositor's
# NTFS core on libntfs-3g (it reads layers from files, from its parent, or from iSCSI LUNs through
# libiscsi); lamina_io gives disk/ the aligned memory direct I/O needs and compresses vmdk-stream
# grains with zlib.
{
  'targets': [
    {
      'target_name': 'lamina_registry',
      'sources': ['registry/hive.cc'],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      'defines': ['NAPI_VERSION=8'],
      'libraries': ['-lhivex'],
      'cflags_cc': ['-std=c++17', '-Wall', '-Wextra'],
    },
    {
      'target_name': 'lamina_io',
      'sources': ['io/addon.cc', 'io/aligned-buffer.cc', 'io/grain-deflate.cc', 'io/file-space.cc', 'io/data-ranges.cc', 'io/page-cache.cc'],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      'defines': ['NAPI_VERSION=8'],
      'libraries': ['-lz'],
      'cflags_cc': ['-std=c++17', '-O2', '-Wall', '-Wextra'],
    },
    {
      # A standalone executable, not an addon: a crash in libntfs-3g can never take the worker
      # down, and a compose is cancelled by killing the process.
      'target_name': 'lamina_ntfs',
      'type': 'executable',
      'sources': [
        'ntfs/main.c',
        'ntfs/fail.c',
        'ntfs/clock.c',
        'ntfs/progress.c',
        'ntfs/volume.c',
        'ntfs/device.c',
        'ntfs/sized-device.c',
        'ntfs/file-read.c',
        'ntfs/window-cache.c',
        'ntfs/served-device.c',
        'ntfs/iscsi-device.c',
        'ntfs/device-reads.c',
        'ntfs/mapped-device.c',
        'ntfs/read-cache.c',
        'ntfs/path.c',
        'ntfs/walk.c',
        'ntfs/entry.c',
        'ntfs/apply.c',
        'ntfs/overlay.c',
        'ntfs/listing.c',
        'ntfs/clone.c',
        'ntfs/backing.c',
        'ntfs/record-path.c',
        'ntfs/capture-diff.c',
        'ntfs/capture-copy.c',
      ],
      'cflags': ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter'],
      'defines': ['HAVE_CLOCK_GETTIME=1'],
      'libraries': ['-lntfs-3g', '-liscsi', '-lpthread'],
    },
  ],
}
