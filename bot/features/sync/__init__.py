"""Running provider syncs, on a timer and on "Sync now"."""
