# vpsrescue audit: Lynis on the audited server (installed with its apt if missing);
# its log and report live in a temporary directory removed after reading.
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
installed=no
if ! command -v lynis >/dev/null 2>&1; then
  apt-get install -y -q lynis >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1; apt-get install -y -q lynis >/dev/null 2>&1; } || { echo "@@LYNIS-MISSING"; exit 0; }
  installed=yes
fi
d=$(mktemp -d /tmp/vpsrescue-lynis.XXXXXX)
lynis audit system --quick --no-colors --logfile "$d/lynis.log" --report-file "$d/report.dat" >/dev/null 2>&1
rc=$?
echo "@@LYNIS installed=$installed rc=$rc"
cat "$d/report.dat" 2>/dev/null
rm -rf "$d"
