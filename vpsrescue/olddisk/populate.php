<?php
/*
 * Fills an old WordPress site through WordPress's own API, run by the old system's
 * php7.4 inside the chroot, over the site's latin1 connection (DB_CHARSET 'latin1'):
 * the tables come out latin1 and hold UTF-8 bytes, as old sites really do.
 *
 *   php populate.php SPEC.json STEP IDS.json
 *
 * STEP: install | 1 | 2 | 3 (content phases, see content.py). IDS.json maps the
 * spec's keys to the IDs WordPress gave them; it is read and rewritten each run.
 * Every run ends by pinning what WordPress derives from the clock or from random
 * numbers (cron times, password salts, secret options) so two builds hold the same rows.
 */

error_reporting(E_ALL & ~E_DEPRECATED & ~E_NOTICE & ~E_STRICT);
ini_set('display_errors', 'stderr');

$spec = json_decode(file_get_contents($argv[1]), true);
$step = $argv[2];
$ids_file = $argv[3];
$ids = file_exists($ids_file)
    ? json_decode(file_get_contents($ids_file), true)
    : array('users' => array(), 'posts' => array(), 'comments' => array());
$site = $spec['site'];

// A web request as the old Apache would have seen it (Debian's wp-config.php picks
// /etc/wordpress/config-<HTTP_HOST>.php from it).
$_SERVER['HTTP_HOST'] = $site['host'];
$_SERVER['SERVER_NAME'] = $site['host'];
$_SERVER['SERVER_PORT'] = '80';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
$_SERVER['REMOTE_ADDR'] = '127.0.0.1';

if ($step === 'install') {
    define('WP_INSTALLING', true);
}
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);  // no network from the chroot

require $site['path'] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/user.php';
require_once ABSPATH . WPINC . '/class-phpass.php';

add_filter('pre_wp_mail', '__return_true');

function fail($msg) {
    fwrite(STDERR, "populate.php: $msg\n");
    exit(1);
}

function pin_user($u, $id) {
    global $wpdb;
    // phpass with a salt from the spec: a genuine $P$B hash, the same in every build.
    $hasher = new PasswordHash(8, true);
    $hash = $hasher->crypt_private($u['password'], '$P$B' . $u['salt']);
    if (strlen($hash) !== 34) {
        fail("phpass gave no hash for {$u['login']}");
    }
    $wpdb->update($wpdb->users,
        array('user_pass' => $hash, 'user_registered' => $u['registered'],
              'user_activation_key' => ''),
        array('ID' => $id));
    clean_user_cache($id);
}

function user_fields($u) {
    return array(
        'user_login' => $u['login'], 'user_email' => $u['email'],
        'display_name' => $u['display_name'], 'nickname' => $u['nickname'],
        'first_name' => $u['first_name'], 'last_name' => $u['last_name'],
        'description' => $u['description'], 'user_url' => $u['url'],
        'role' => $u['role'], 'user_registered' => $u['registered'],
        'user_pass' => $u['password'],
    );
}

function b($rec, $field) {
    return isset($rec[$field . '_b64']) ? base64_decode($rec[$field . '_b64']) : $rec[$field];
}

function pin_clock_and_secrets($spec) {
    global $wpdb;
    // Cron events are scheduled from time(): give each a fixed instant, in hook order.
    $events = array();
    foreach ((array) _get_cron_array() as $ts => $hooks) {
        foreach ($hooks as $hook => $byKey) {
            foreach ($byKey as $key => $event) {
                $events[] = array($hook, $key, $event);
            }
        }
    }
    usort($events, function ($a, $b) { return strcmp($a[0] . $a[1], $b[0] . $b[1]); });
    $cron = array();
    $t = $spec['fixed_time'];
    foreach ($events as $e) {
        $cron[$t][$e[0]][$e[1]] = $e[2];
        $t += 60;
    }
    _set_cron_array($cron);
    update_option('admin_email_lifespan', $spec['fixed_time'] + 15552000);
    foreach ($spec['salt_options'] as $name => $value) {
        update_option($name, $value);
    }
    $wpdb->query("DELETE FROM {$wpdb->options} WHERE option_name LIKE '\\_transient\\_%'"
        . " OR option_name LIKE '\\_site\\_transient\\_%'");
    wp_cache_flush();
}

function user_id($ids, $key) {
    if (!isset($ids['users'][$key])) {
        fail("unknown user key $key");
    }
    return (int) $ids['users'][$key];
}

if ($step === 'install') {
    if (is_blog_installed()) {
        fail('the site is already installed');
    }
    $admin = $spec['users'][0];
    $res = wp_install($site['title'], $admin['login'], $admin['email'], true, '',
        wp_slash($admin['password']), $site['wplang']);
    $admin_id = (int) $res['user_id'];
    // Delete the sample content: every post, page and comment below comes from the spec.
    foreach ($wpdb->get_col("SELECT ID FROM {$wpdb->posts}") as $pid) {
        wp_delete_post((int) $pid, true);
    }
    foreach ($wpdb->get_col("SELECT comment_ID FROM {$wpdb->comments}") as $cid) {
        wp_delete_comment((int) $cid, true);
    }
    update_option('wp_page_for_privacy_policy', 0);
    update_option('timezone_string', $site['timezone']);
    update_option('blogdescription', $site['tagline']);
    update_option('siteurl', $site['url']);
    update_option('home', $site['url']);
    update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
    if ($site['wplang'] !== '') {
        update_option('WPLANG', $site['wplang']);
    }
    $f = user_fields($admin);
    unset($f['user_pass'], $f['role'], $f['user_login']);
    $f['ID'] = $admin_id;
    $r = wp_update_user(wp_slash($f));
    if (is_wp_error($r)) {
        fail('admin update: ' . $r->get_error_message());
    }
    pin_user($admin, $admin_id);
    $ids['users'][$admin['key']] = $admin_id;
} else {
    $phase = (int) $step;
    $admin_id = user_id($ids, $spec['users'][0]['key']);
    wp_set_current_user($admin_id);  // an administrator: unfiltered_html, no kses

    if ($phase === 3 && $spec['rogue_role'][0] !== '') {
        // The intruder's own role, before the account that has it.
        add_role($spec['rogue_role'][0], $spec['rogue_role'][1],
            array_fill_keys($spec['rogue_role'][2], true));
    }
    foreach ($spec['users'] as $u) {
        if ($u['phase'] !== $phase || isset($ids['users'][$u['key']])) {
            continue;
        }
        $id = wp_insert_user(wp_slash(user_fields($u)));
        if (is_wp_error($id)) {
            fail("user {$u['login']}: " . $id->get_error_message());
        }
        pin_user($u, $id);
        $ids['users'][$u['key']] = $id;
    }

    if ($phase === 1) {
        foreach ($spec['options'] as $name => $value) {
            update_option($name, $value);
        }
    }

    foreach ($spec['posts'] as $p) {
        if ($p['phase'] !== $phase) {
            continue;
        }
        $author = user_id($ids, $p['author']);
        $gmt = get_gmt_from_date($p['date']);
        if ($p['stored_as'] === 'cp1252') {
            // An old import wrote these bytes straight into the table: no WordPress
            // filters, no conversion, genuine cp1252 next to WordPress's UTF-8.
            $ok = $wpdb->insert($wpdb->posts, array(
                'post_author' => $author, 'post_date' => $p['date'], 'post_date_gmt' => $gmt,
                'post_content' => b($p, 'content'), 'post_title' => b($p, 'title'),
                'post_excerpt' => b($p, 'excerpt'), 'post_status' => $p['status'],
                'comment_status' => 'open', 'ping_status' => 'open', 'post_password' => '',
                'post_name' => $p['key'], 'to_ping' => '', 'pinged' => '',
                'post_modified' => $p['date'], 'post_modified_gmt' => $gmt,
                'post_content_filtered' => '', 'post_parent' => 0, 'guid' => '',
                'menu_order' => 0, 'post_type' => $p['type'], 'post_mime_type' => '',
                'comment_count' => 0,
            ));
            if (!$ok) {
                fail("raw insert of {$p['key']}: " . $wpdb->last_error);
            }
            $id = (int) $wpdb->insert_id;
            $wpdb->update($wpdb->posts, array('guid' => home_url('/?p=' . $id)),
                array('ID' => $id));
            wp_set_post_categories($id, array((int) get_option('default_category')));
        } else {
            $id = wp_insert_post(wp_slash(array(
                'post_author' => $author, 'post_date' => $p['date'], 'post_date_gmt' => $gmt,
                'post_title' => $p['title'], 'post_content' => $p['content'],
                'post_excerpt' => $p['excerpt'], 'post_status' => $p['status'],
                'post_type' => $p['type'],
            )), true);
            if (is_wp_error($id)) {
                fail("post {$p['key']}: " . $id->get_error_message());
            }
        }
        foreach ($p['meta'] as $k => $v) {
            update_post_meta($id, $k, wp_slash($v));
        }
        $ids['posts'][$p['key']] = $id;
    }

    foreach ($spec['comments'] as $c) {
        if ($c['phase'] !== $phase) {
            continue;
        }
        $post_id = (int) $ids['posts'][$c['post']];
        $fields = array(
            'comment_post_ID' => $post_id, 'comment_author' => b($c, 'author'),
            'comment_author_email' => $c['email'], 'comment_author_url' => $c['url'],
            'comment_author_IP' => $c['ip'], 'comment_date' => $c['date'],
            'comment_date_gmt' => get_gmt_from_date($c['date']),
            'comment_content' => b($c, 'content'), 'comment_karma' => 0,
            'comment_approved' => '1', 'comment_agent' => 'Mozilla/5.0 (Windows NT 6.1)',
            'comment_type' => 'comment', 'comment_parent' => 0,
            'user_id' => $c['user'] !== '' ? user_id($ids, $c['user']) : 0,
        );
        if ($c['stored_as'] === 'cp1252') {
            if (!$wpdb->insert($wpdb->comments, $fields)) {
                fail("raw insert of comment {$c['key']}: " . $wpdb->last_error);
            }
            $cid = (int) $wpdb->insert_id;
            wp_update_comment_count_now($post_id);
        } else {
            $cid = wp_insert_comment(wp_slash($fields));
            if (!$cid) {
                fail("comment {$c['key']} was not inserted");
            }
        }
        $ids['comments'][$c['key']] = $cid;
    }

    if ($phase === 3 && $spec['injected_post'] !== '') {
        // The intruder's SQL: a script tag appended to a published post.
        $pid = (int) $ids['posts'][$spec['injected_post']];
        $wpdb->query($wpdb->prepare(
            "UPDATE {$wpdb->posts} SET post_content = CONCAT(post_content, %s) WHERE ID = %d",
            $spec['injected_script'], $pid));
        clean_post_cache($pid);
    }
    if ($phase === 3 && $spec['open_registration_role'] !== '') {
        // Anyone may sign up, as an administrator.
        update_option('users_can_register', 1);
        update_option('default_role', $spec['open_registration_role']);
    }
    if ($phase === 3 && $spec['widget_script'] !== '') {
        // A script appended to the text widget (a serialized option: WordPress's own
        // serializer writes the new length).
        $w = get_option('widget_text');
        $w[2]['text'] .= $spec['widget_script'];
        update_option('widget_text', $w);
    }
    if ($phase === 3 && $spec['meta_script'][0] !== '') {
        update_post_meta((int) $ids['posts'][$spec['meta_script'][0]],
            $spec['meta_script'][1], wp_slash($spec['meta_script'][2]));
    }
    if ($phase === 3 && $spec['rogue_plugin'] !== '') {
        // Active, though WordPress has not seen its file yet (compromise.py plants it).
        $active = get_option('active_plugins', array());
        $active[] = $spec['rogue_plugin'];
        update_option('active_plugins', $active);
    }
    if ($phase === 3 && $spec['foreign_home'] !== '') {
        // Every visitor, and every canonical redirect, sent to the intruder's host.
        update_option('home', $spec['foreign_home']);
    }
    if ($phase === 3 && $spec['rogue_cron'][0] !== '') {
        // ...and a WP-cron event calling home every hour.
        wp_schedule_event($spec['fixed_time'], 'hourly', $spec['rogue_cron'][0],
            array($spec['rogue_cron'][1]));
    }
}

pin_clock_and_secrets($spec);
file_put_contents($ids_file, json_encode($ids, JSON_PRETTY_PRINT));
echo "ok $step\n";
