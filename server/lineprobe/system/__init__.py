"""The kernel's view of the machine next to the code: block I/O by device and process."""
