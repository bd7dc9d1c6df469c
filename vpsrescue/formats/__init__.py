"""Readers of the old system's file formats: plain functions over bytes, no I/O of their
own (a reader that needs several files takes a :class:`vpsrescue.rootview.RootView`).

Rescue's discovery and every triage check import these; nothing parses one of these
formats a second time.

- :mod:`.php`     PHP tokenizer, wp-config.php reader, wp-includes/version.php
- :mod:`.apache`  Apache vhosts (sites-available / sites-enabled)
- :mod:`.dpkg`    dpkg status (installed packages, conffiles), info/*.md5sums, *.list
- :mod:`.passwd`  /etc/passwd, /etc/group, /etc/shadow
"""
