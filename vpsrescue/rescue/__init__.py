"""fab rescue: take what is worth keeping off the old disk into a bundle.

- :mod:`.discover`  facts about the old system, read through one view of the old root
- :mod:`.probe`     the few files discovery reads, in one tar from the rescue host
- :mod:`.selection` which paths to take, the remote listing/tar commands, the resume plan
- :mod:`.receive`   one binary tar stream in, files + sha256 manifest entries out
- :mod:`.transfer`  runs listing + tar on the rescue host (OpenSSH or paramiko) into a bundle
"""
