"""The rules of the PHP engine: one stable id per technique, its severity, and the one
sentence an operator reads to know why it matters.

Ids are part of the report's contract (``Finding.extra["rule"]``): rename one only with
a note in docs/triage.md. Severities: critical = code that runs what a visitor sends or
what was hidden from a reader; high = a tool an intruder uses (file manager, mailer,
uploader, dropper) or a layer only obfuscation needs; medium = unusual, review it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    kind: str  # Finding.kind: "webshell" (runs request input) or "php_backdoor"
    title: str
    why: str


RULES: dict[str, Rule] = {r.id: r for r in (
    Rule("php.request-exec", "critical", "webshell",
         "request input reaches a command, eval or include",
         "Whoever sends this request runs code or commands on the server."),
    Rule("php.request-callable", "critical", "webshell",
         "request input chooses the function that is called",
         "A visitor can call any PHP function, system() included, by naming it."),
    Rule("php.eval-decoded", "critical", "php_backdoor",
         "eval of decoded or assembled code",
         "Code hidden by encoding is run; nothing legitimate needs to hide code it runs."),
    Rule("php.eval-remote", "critical", "php_backdoor",
         "eval of content fetched from another host",
         "The code that runs here is whatever another server sends, changed at will."),
    Rule("php.preg-replace-e", "critical", "php_backdoor",
         "preg_replace with the /e modifier",
         "The /e modifier evaluates the replacement as PHP code."),
    Rule("php.create-function", "critical", "php_backdoor",
         "create_function with a decoded or request-controlled body",
         "create_function is eval: its body here is hidden or chosen by a visitor."),
    Rule("php.hidden-call", "high", "php_backdoor",
         "a dangerous function called under a hidden name",
         "The name of a function that runs code or decodes payloads is assembled or "
         "encoded so a reader or a scanner does not see it."),
    Rule("php.decode-chain", "high", "php_backdoor",
         "nested decoders of a hidden payload",
         "Decompressing what base64 or rot13 just decoded is how packed code is carried."),
    Rule("php.hidden-payload", "high", "php_backdoor",
         "encoded PHP code inside the file",
         "A PHP program is carried encoded inside another file, to be written or run."),
    Rule("php.obfuscated-names", "high", "php_backdoor",
         "identifiers spelled with escapes or string arithmetic",
         "Names spelled as \\x escapes or XOR of strings only serve to hide what the code "
         "calls."),
    Rule("php.include-request", "critical", "webshell",
         "include of a file named by the request",
         "A visitor chooses which file runs as PHP (a remote or uploaded one too)."),
    Rule("php.include-non-php", "high", "php_backdoor",
         "include of a file that is not PHP",
         "Code hidden in an image or text file is run as PHP."),
    Rule("php.upload-unchecked", "high", "webshell",
         "an uploaded file is stored under the name the visitor gave",
         "Anyone can upload a .php file and then run it: an uploader."),
    Rule("php.request-write", "high", "webshell",
         "request data written to a file the request names",
         "A visitor can write any file, such as a new web shell."),
    Rule("php.dropper", "high", "php_backdoor",
         "decoded PHP code is written to a file",
         "The file plants another PHP program on the site."),
    Rule("php.mass-mailer", "high", "webshell",
         "mail() in a loop to recipients the request gives",
         "A spam sender: the server's reputation and mail are abused."),
    Rule("php.shell-ui", "high", "webshell",
         "a file manager or shell panel",
         "It shows the server's identity and limits (uname, safe_mode, free space, owner) "
         "and lets a visitor act on files or run commands."),
    Rule("php.backtick", "low", "webshell",
         "a shell command in backticks built from variables",
         "Backticks run a shell command; built from variables it is a command runner."),
    Rule("php.request-sql", "high", "webshell",
         "an SQL query taken whole from the request",
         "An SQL console: a visitor reads or changes any database the site can reach."),
    Rule("php.assert-string", "medium", "php_backdoor",
         "assert of a string (evaluated as code before PHP 8)",
         "assert() evaluates a string argument as PHP code on PHP 7."),
    Rule("php.encoded-blob", "high", "php_backdoor",
         "a long base64 blob in one string (not an image or font)",
         "A large encoded or encrypted blob in code is how packed payloads travel."),
)}
