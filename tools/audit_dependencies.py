"""`make lint`'s dependency audit: pip-audit over the packages installed in ``.venv``.

What is audited: ``pip freeze --exclude-editable``, that is every installed package at its
installed version, whether it came from PyPI or from a local wheel folder, except changebank itself
(editable) and the venv's own installers (pip, setuptools, wheel: pip freeze leaves them out; they
are not loaded by changebank). pip-audit checks the exact pins (``--no-deps --disable-pip``:
nothing is resolved or installed) against its default vulnerability service, PyPI's JSON API
(``https://pypi.org/pypi/NAME/VERSION/json``).

Exit status: 1 when a known vulnerability is found (so ``make lint`` fails); 0 when none is
found, and also, with a clear warning, when the audit could not be done at all (no network, or a
PyPI mirror that does not answer per-version queries), so that a network hiccup does not fail
``make lint``. Set ``CHANGEBANK_AUDIT_REQUIRED=1`` (in CI) to fail in that case too. A failed
attempt is retried twice, after 5 and 15 seconds.

Run it alone: ``.venv/bin/python tools/audit_dependencies.py`` (arguments after it go to
pip-audit, for example ``-s osv``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Vulnerabilities knowingly accepted, by ID (PYSEC-..., GHSA-... or CVE-...), each with why the
#: vulnerable code is not used by changebank. Keep this empty unless that is really so.
IGNORED: dict[str, str] = {}

PAUSES = (5, 15)  # seconds before the second and third attempts
NOT_FOUND = "not found on PyPI"


def installed_pins() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def run_pip_audit(requirements: Path, report: Path, extra: list[str]) -> tuple[dict | None, str]:
    """One pip-audit run: its JSON report (None when it wrote none) and its last error line."""
    report.unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).with_name("pip-audit")),
        "--requirement",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--output",
        str(report),
        *(arg for vuln in IGNORED for arg in ("--ignore-vuln", vuln)),
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    errors = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "hash their pinned" not in line and "pip-compile" not in line
    ]
    last = errors[-1].strip() if errors else f"pip-audit exited with status {done.returncode}"
    if not report.exists() or not report.read_text().strip():
        return None, last
    return json.loads(report.read_text()), last


def main(extra: list[str]) -> int:
    started = time.monotonic()
    required = os.environ.get("CHANGEBANK_AUDIT_REQUIRED", "") == "1"
    with tempfile.TemporaryDirectory(prefix="changebank-audit-") as tmp:
        requirements = Path(tmp) / "installed.txt"
        requirements.write_text(installed_pins())
        report = Path(tmp) / "report.json"
        result, problem = None, ""
        for attempt, pause in enumerate((0, *PAUSES), start=1):
            if pause:
                print(f"pip-audit: attempt {attempt} in {pause} s ({problem})", flush=True)
                time.sleep(pause)
            result, problem = run_pip_audit(requirements, report, extra)
            if result is not None:
                break
    seconds = time.monotonic() - started
    if result is None:
        print(
            f"pip-audit: WARNING: dependencies NOT audited: the vulnerability service could not "
            f"be reached after {1 + len(PAUSES)} attempts ({problem}). Run `make lint` again "
            "when online.",
            file=sys.stderr,
        )
        return 1 if required else 0

    deps = result.get("dependencies", [])
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    audited = len(deps) - len(skipped)
    if vulnerable:
        print("pip-audit: known vulnerabilities in installed packages:", file=sys.stderr)
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
                aliases = ", ".join(vuln.get("aliases") or [])
                print(
                    f"  {dep['name']} {dep['version']}: {vuln['id']}"
                    + (f" ({aliases})" if aliases else "")
                    + f", fixed in {fixed}",
                    file=sys.stderr,
                )
        print(
            "Upgrade (or bound in pyproject.toml) each package above; if the vulnerable code is "
            "really never used, add the ID with the reason to IGNORED in "
            "tools/audit_dependencies.py.",
            file=sys.stderr,
        )
        return 1
    if audited == 0:
        print(
            f"pip-audit: WARNING: dependencies NOT audited: the vulnerability service knew none "
            f"of the {len(deps)} installed packages (a PyPI mirror without per-version JSON?): "
            f"{skipped[0]['skip_reason'] if skipped else 'nothing installed'}",
            file=sys.stderr,
        )
        return 1 if required else 0
    print(
        f"pip-audit: no known vulnerabilities in {audited} installed packages "
        f"({seconds:.0f} s; pip, setuptools and changebank itself left out"
        + (f"; {len(IGNORED)} ignored by ID" if IGNORED else "")
        + ")"
    )
    if skipped:
        names = ", ".join(sorted(d["name"] for d in skipped))
        print(f"pip-audit: not on PyPI, so not audited: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
