"""The compromised old disk: a realistic test image built by code from real parts.

A Debian 11 LAMP server (debootstrap + apt), two WordPress sites whose latin1 tables
were filled by WordPress's own PHP, an old double-encoded dump, thousands of uploads
and a planted break-in, on a GPT disk with / and /var partitions. The ground truth
(truth.json) beside the image says what is on it. See docs/olddisk.md.

Public interface (used by `fab lab.up` and `fab lab.disk`)::

    img = ensure_image(force=False, progress=True)   # cached by content key
    img.image   # Path of the raw, sparse, partitioned disk image
    img.truth   # Path of truth.json beside it
"""

from __future__ import annotations

from .build import OldDiskImage, ensure_image

__all__ = ["OldDiskImage", "ensure_image"]
