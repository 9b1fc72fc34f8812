{
  "targets": [
    {
      # The NTFS core of the compositor: a standalone executable (not an addon) so a crash in
      # libntfs-3g can never take the worker down and a compose can be cancelled by killing it.
      "target_name": "lamina_ntfs",
      "type": "executable",
      "sources": [
        "ntfs/main.c",
        "ntfs/clock.c",
        "ntfs/progress.c",
        "ntfs/volume.c",
        "ntfs/path.c",
        "ntfs/entry.c",
        "ntfs/apply.c",
        "ntfs/overlay.c",
        "ntfs/walk.c",
        "ntfs/listing.c",
        "ntfs/clone.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["HAVE_CLOCK_GETTIME=1"],
      "include_dirs": ["/usr/include/ntfs-3g"],
      "libraries": ["-lntfs-3g"]
    }
  ]
}
