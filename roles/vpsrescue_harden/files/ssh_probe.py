"""Log in once with paramiko, the client fab uses, and run `true`: exit 0 if it worked.

Run on the controller by roles/vpsrescue_harden/tasks/ssh.yml against the probe sshd,
so a configuration that paramiko cannot negotiate (or whose key login fails) never
goes live. The host key must be the one pinned for the host in known_hosts.
"""

import sys

import paramiko

host, port, user, key, known_hosts = sys.argv[1:6]
client = paramiko.SSHClient()
client.load_host_keys(known_hosts)
keys = client.get_host_keys()
if host in keys:  # the pinned key, looked up under host:port as paramiko does
    for ktype, hkey in keys[host].items():
        keys.add(f"[{host}]:{port}", ktype, hkey)
client.set_missing_host_key_policy(paramiko.RejectPolicy())
try:
    client.connect(host, int(port), username=user, key_filename=key or None,
                   allow_agent=not key, look_for_keys=False, timeout=15,
                   auth_timeout=15, banner_timeout=15)
    _, out, _ = client.exec_command("true", timeout=15)
    rc = out.channel.recv_exit_status()
except Exception as exc:  # the one sentence is made by the task
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
finally:
    client.close()
print("paramiko login ok" if rc == 0 else f"true exited {rc}")
sys.exit(rc)
