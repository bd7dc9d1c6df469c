# vpsrescue audit collector: runs on the audited server with sh; only reads.
# Its lists (__SYSCTL__ …) are filled in by collect.remote_script().
export LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
sec() { n=$1; shift; printf '\n@@AUDIT %s\n' "$n"; "$@" 2>&1; printf '\n@@RC %s\n' "$?"; }
has() { command -v "$1" >/dev/null 2>&1; }
sec os_release cat /etc/os-release
sec virt systemd-detect-virt -c
sec sshd_T sshd -T
sec ssh_files sh -c 'stat -c "%a %U %G %n" /etc/ssh/sshd_config /etc/ssh/sshd_config.d/* /etc/ssh/ssh_host_*_key 2>/dev/null'
sec ssh_moduli awk '!/^#/ && NF >= 7 { n++; if ($5 < 3071) weak++ } END { printf "%d %d\n", n, weak }' /etc/ssh/moduli
sec nft nft list ruleset
sec listen ss -H -lntu
sec sysctl sysctl -e __SYSCTL__
# which of them this system may not set: access(2) says so without writing (a read-only
# /proc/sys in a container, a key owned by the host's kernel)
sec sysctl_readonly sh -c 'for k in __SYSCTL__; do p=/proc/sys/$(echo "$k" | tr . /); [ -e "$p" ] && [ ! -w "$p" ] && echo "$k"; done; true'
sec stat sh -c 'stat -c "%a %U %G %F %n" __STAT__ 2>/dev/null; true'
sec login_defs grep -E '^[[:space:]]*(UMASK|PASS_MAX_DAYS|PASS_MIN_DAYS|PASS_WARN_AGE|ENCRYPT_METHOD)[[:space:]]' /etc/login.defs
sec passwd cut -d: -f1,3,4,7 /etc/passwd
sec shadow_empty awk -F: '$2 == "" { print $1 }' /etc/shadow
sec limits sh -c 'grep -hE "^[^#]*[[:space:]]core[[:space:]]" /etc/security/limits.conf /etc/security/limits.d/* 2>/dev/null; grep -hiE "^[[:space:]]*Storage=" /etc/systemd/coredump.conf /etc/systemd/coredump.conf.d/* 2>/dev/null; true'
sec umask sh -c 'grep -HE "^[[:space:]]*umask[[:space:]]+[0-7]+" /etc/profile /etc/profile.d/*.sh /etc/bash.bashrc 2>/dev/null; grep -HE "^[^#]*pam_umask" /etc/pam.d/common-session 2>/dev/null; true'
sec systemd_limits systemctl show --property=DefaultLimitCORE --property=DefaultLimitCORESoft
sec modprobe sh -c 'grep -hE "^[[:space:]]*(install|blacklist)[[:space:]]" /etc/modprobe.d/* 2>/dev/null; true'
sec world_writable find /etc /usr/bin /usr/sbin /usr/lib -xdev -type f -perm -0002
sec packages dpkg-query -W -f '${Package} ${db:Status-Status} ${Version}\n' __PACKAGES__
units() { for u in __UNITS__; do printf '%s %s\n' "$u" "$(systemctl "$1" "$u" 2>/dev/null)"; done; }
sec units units is-enabled
sec units_active units is-active
sec apt_sources sh -c 'for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && { echo "## $f"; grep -vE "^[[:space:]]*(#|$)" "$f"; }; done; true'
sec apt_config sh -c 'apt-config dump | grep -E "^(APT::Periodic|Unattended-Upgrade::(Origins-Pattern|Allowed-Origins|Automatic-Reboot))"'
sec apt_pending sh -c 'apt-get -s -o Debug::NoLocking=1 upgrade | grep "^Inst"'
if has fail2ban-client; then
  sec f2b fail2ban-client status
  for j in $(fail2ban-client status 2>/dev/null | sed -n 's/.*Jail list:[[:space:]]*//p' | tr ',' ' '); do
    sec "f2b_jail $j" fail2ban-client status "$j"
    sec "f2b_actions $j" fail2ban-client get "$j" actions
  done
fi
if has mariadb; then
  sec db_vars mariadb -N -B -e "SHOW GLOBAL VARIABLES WHERE Variable_name IN (__MARIADB__)"
  sec db_users mariadb -N -B -e "SELECT User, Host, IFNULL(JSON_VALUE(Priv, '$.plugin'), ''), IF(IFNULL(JSON_VALUE(Priv, '$.authentication_string'), '') = '', 'empty', 'set'), IFNULL(JSON_VALUE(Priv, '$.account_locked'), 'false') FROM mysql.global_priv"
  sec db_test mariadb -N -B -e "SHOW DATABASES LIKE 'test'"
  sec db_datadir sh -c 'stat -c "%a %U %G %n" "$(mariadb -N -B -e "SELECT @@datadir")"'
fi
for d in /etc/php/*/apache2; do
  [ -f "$d/php.ini" ] || continue
  v=$(basename "$(dirname "$d")")
  p=$(command -v "php$v" || command -v php)
  [ -n "$p" ] && sec "php $d" env PHP_INI_SCAN_DIR="$d/conf.d" "$p" -c "$d/php.ini" -r 'foreach (array_slice($argv, 1) as $k) { $v = ini_get($k); echo $k, "=", $v === false ? "(unset)" : $v, "\n"; }' __PHP__
done
if has apache2ctl; then
  sec apache_modules apache2ctl -M
  sec apache_vhosts apache2ctl -S
  sec apache_sites sh -c 'for f in /etc/apache2/sites-enabled/*; do [ -f "$f" ] && { echo "## $f"; grep -hiE "^[[:space:]]*(ServerName|ServerAlias|DocumentRoot)[[:space:]]" "$f"; }; done; true'
  sites=$(for f in /etc/apache2/sites-enabled/*; do [ -f "$f" ] && grep -hiE '^[[:space:]]*ServerName[[:space:]]' "$f" | awk '{print $2}'; done | sort -u)
  roots=$(for f in /etc/apache2/sites-enabled/*; do [ -f "$f" ] && grep -hiE '^[[:space:]]*DocumentRoot[[:space:]]' "$f" | awk '{print $2}' | tr -d '"'; done | sort -u)
  for r in $roots; do
    [ -f "$r/wp-includes/version.php" ] && sec "wp_root $r" sh -c 'grep -E "^\\\$wp_version" "$1/wp-includes/version.php"; ls -d "$1"/wp-config.php 2>/dev/null' sh "$r"
  done
  for f in $(ls -d /etc/wordpress/config-*.php /etc/wordpress/wp-config.php $(for r in $roots; do echo "$r/wp-config.php"; done) 2>/dev/null | sort -u); do
    sec "wp_config $f" sh -c 'stat -c "%a %U %G" "$1"; grep -hoiE "define\(\s*.(DISALLOW_FILE_EDIT|DISALLOW_FILE_MODS|WP_DEBUG|WP_DEBUG_DISPLAY|FORCE_SSL_ADMIN).\s*,\s*[a-z0-9]+" "$1"' sh "$f"
  done
  if has python3; then sec http python3 -c "$HTTP_PROBES" ${sites:-localhost} __UNCLAIMED__; else sec http sh -c 'echo python3 is missing; exit 127'; fi
fi
# the configuration Debian's daily check really reads (CONFIG in /etc/default/aide)
sec aide_conf sh -c 'c=$(sed -n "s/^CONFIG=[\"]*\([^\"]*\)[\"]*$/\1/p" /etc/default/aide 2>/dev/null | tail -n 1); c=${c:-/etc/aide/aide.conf}; echo "## $c"; grep -hE "^[[:space:]]*[/!=]" "$c" 2>/dev/null; grep -q "^@@x_include /etc/aide/aide.conf.d" "$c" 2>/dev/null && grep -hE "^[[:space:]]*[/!=]" /etc/aide/aide.conf.d/* 2>/dev/null; true'
printf '\n@@END\n'
