# Native addons of Lamina. Each concern is its own target so that they build and load
# independently: lamina_registry wraps hivex (registry hives).
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
  ],
}
