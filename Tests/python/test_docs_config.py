"""The configuration docs against the binary, both ways: every setting the binary has
(`--print-config` lists them all) is in README's configuration table, in .env.example and has a
`serve` flag; every name README's table and .env.example give is one the binary knows (asked of
the binary itself: its strict .env refuses unknown names); every `serve` flag is a setting;
every numeric setting's README row states the range the binary enforces; .env.example is itself
a valid .env. Nothing here lists the settings: a new one fails this test until it is documented."""
import os
import re
import subprocess
import tempfile

from conftest import ROOT, binary

NAME = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def run(args, dotenv=None):
    env = {k: v for k, v in os.environ.items() if not re.fullmatch(r"[A-Z][A-Z0-9_]*", k) or k in ("PATH", "HOME", "LANG", "SWITCHBOARD_BIN")}
    with tempfile.TemporaryDirectory() as cwd:
        if dotenv is not None:
            with open(os.path.join(cwd, ".env"), "w") as f:
                f.write(dotenv)
        p = subprocess.run([binary(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


def settings():
    """{NAME: default} from the binary."""
    code, out, err = run(["--print-config"])
    assert code == 0, err
    return {line.split()[0]: line.split(None, 2)[2] for line in out.splitlines()}


def readme_rows():
    """{NAME: the table row naming it} from README's Configuration table."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 5)]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        for name in NAME.findall(first_cell):
            rows[name] = line
    assert len(rows) > 20, "README's configuration table not found"
    return rows


def env_example_names():
    """Names .env.example sets or shows commented out (`NAME=` / `#NAME=` lines)."""
    with open(os.path.join(ROOT, ".env.example")) as f:
        return {m.group(1) for m in (re.match(r"#?(?:export\s+)?([A-Z][A-Z0-9_]*)=", line) for line in f) if m}


def known_to_binary(name):
    """The binary's own answer: its strict .env refuses a name that is not a setting."""
    code, _, err = run(["--print-config"], dotenv=f"{name}=\n")
    assert code in (0, 64), err
    return f"unknown variable {name}" not in err  # refused for another reason (empty API_KEY): known


def serve_flags():
    code, out, _ = run(["serve", "--help"])
    assert code == 0
    return set(re.findall(r"^\s+(--[a-z0-9-]+)", out, re.M))


def kebab(name):
    return "--" + name.lower().replace("_", "-")


def test_every_setting_is_documented_in_readme_and_env_example_and_has_a_flag():
    documented, example, flags = readme_rows(), env_example_names(), serve_flags()
    names = settings()
    assert len(names) > 20
    missing_readme = sorted(set(names) - set(documented))
    missing_example = sorted(set(names) - example)
    missing_flag = sorted(n for n in names if kebab(n) not in flags)
    assert not missing_readme, f"settings missing from README's configuration table: {missing_readme}"
    assert not missing_example, f"settings missing from .env.example (as NAME= or #NAME=): {missing_example}"
    assert not missing_flag, f"settings without a serve flag: {missing_flag}"


def test_every_documented_name_is_a_setting():
    documented = set(readme_rows()) | env_example_names()
    unknown = sorted(n for n in documented if not known_to_binary(n))
    assert not unknown, f"documented names the binary does not know: {unknown}"
    # The check itself can fail: a made-up name is refused.
    assert not known_to_binary("SWITCHBOARD_NO_SUCH_SETTING")


def test_every_serve_flag_is_a_setting():
    names = settings()
    extra = sorted(f for f in serve_flags() - {"--help", "--version", "--print-config"}
                   if f not in {kebab(n) for n in names})
    assert not extra, f"serve flags that are no setting: {extra}"


def test_readme_states_each_numeric_range_the_binary_enforces():
    rows = readme_rows()
    wrong = []
    for name, default in settings().items():
        try:
            float(default)
        except ValueError:
            continue
        code, _, err = run(["--print-config"], dotenv=f"{name}=not-a-number\n")
        match = re.search(r"in ([-0-9.e+]+)\.\.\.([-0-9.e+]+)", err)
        assert code == 64 and match, err
        stated = f"{match.group(1)}–{match.group(2)}"
        if stated not in rows.get(name, ""):
            wrong.append(f"{name}: README should say {stated}")
    assert not wrong, wrong


def test_env_example_is_a_valid_env_file():
    with open(os.path.join(ROOT, ".env.example")) as f:
        text = f.read()
    code, out, err = run(["--print-config"], dotenv=text)
    assert code == 0, err
    from_file = [line.split()[0] for line in out.splitlines() if line.split()[1] == ".env"]
    assert len(from_file) > 20


def serve_help_blocks():
    """{--flag: its help text, lines joined} from `serve --help`."""
    code, out, _ = run(["serve", "--help"])
    assert code == 0
    blocks, current = {}, None
    for line in out[out.index("OPTIONS:"):].splitlines()[1:]:
        match = re.match(r"^  (--[a-z0-9-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
    return {flag: re.sub(r"\s+", " ", text) for flag, text in blocks.items()}


def test_each_flag_help_names_its_variable_and_the_binary_default():
    """A flag's help says which variable it is, and the default it states is the binary's."""
    blocks = serve_help_blocks()
    wrong = []
    for name, default in settings().items():
        text = blocks.get(kebab(name), "")
        if name not in text:
            wrong.append(f"{kebab(name)}: help does not name {name}")
            continue
        stated = re.search(rf"{name}(?: or [A-Z_]+)?, default ([^)]+)\)", text)
        if stated:
            try:
                if float(stated.group(1)) != float(default):
                    wrong.append(f"{kebab(name)}: help says default {stated.group(1)}, the binary uses {default}")
            except ValueError:
                pass  # a default in words ("CPU count", "random", "= RATE_LIMIT")
    assert not wrong, wrong
