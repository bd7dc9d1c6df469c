"""Sidecar checks for the admin's workstation, beside the server rescue.

Two failures that hit the same admin as the hacked VPS: GoAgent losing HTTPS after a
gevent/Python update (:mod:`.goagent`) and Windows 8.x losing VPN to broken WAN
Miniport drivers (:mod:`.wanminiport`, on top of the .reg reader/writer
:mod:`.regfile`). Each check has a pure core, a JSON form and a Markdown section
(``render_markdown``) that the recovery checklist includes as its "workstation" part.
"""
