"""The README's metadata example: add providers, drop the git ones."""

from __future__ import annotations

import platform
import subprocess

import votakvot

providers = {k: v for k, v in votakvot.meta.providers.items() if not k.startswith("git.")}
providers["os.kernel"] = platform.release
providers["python.pip_freeze"] = lambda: subprocess.getoutput("pip freeze")
votakvot.init(path="./my-results", meta_providers=providers)


@votakvot.track()
def probe():
    return "ok"


probe()
for trial in votakvot.load_trials("./my-results").values():
    print(trial.tid, trial.meta.os.kernel, "git" in trial.meta)
