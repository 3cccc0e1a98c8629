#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The include direction of the layers (README "Layout"): util <- at <- modem <- dfota <- control
<- core. A header belongs to the layer whose folder holds its .c file (or the header itself); a
file under daemon/<layer>/, and a header of that layer under include/, may include headers of its
own layer or of lower ones only. The per-layer static libraries catch an upward call at link time;
this catches the upward #include that only borrows a type. Usage: check-layers.py [SOURCE_ROOT]"""

import os
import re
import sys

ORDER = ["util", "at", "modem", "dfota", "control", "core"]
# Headers without a .c file of their own, by the layer that defines their types.
HEADER_ONLY = {
    "macro.h": "util",
    "timeouts.h": "util",
    "modem-config.h": "modem",
}
INCLUDE = re.compile(r'\s*#\s*include\s+"([^"]+)"')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    daemon = os.path.join(root, "daemon")
    owner = dict(HEADER_ONLY)
    files = []
    for layer in sorted(os.listdir(daemon)):
        if layer not in ORDER:
            print(f"daemon/{layer}: not a known layer ({', '.join(ORDER)})")
            return 1
        for f in sorted(os.listdir(os.path.join(daemon, layer))):
            if f.endswith((".c", ".h")):
                owner.setdefault(os.path.splitext(f)[0] + ".h", layer)
                files.append((os.path.join("daemon", layer, f), layer))
    for h in sorted(os.listdir(os.path.join(root, "include"))):
        if h not in owner:
            print(f"include/{h}: belongs to no layer (no .c file of its name under daemon/)")
            return 1
        files.append((os.path.join("include", h), owner[h]))

    bad = []
    for path, layer in files:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                o = owner.get(os.path.basename(m.group(1)))
                if o and ORDER.index(o) > ORDER.index(layer):
                    bad.append(f"{path}:{n}: {layer} includes {m.group(1)} ({o})")
    for b in bad:
        print(b)
    print(f"{len(bad)} upward includes in {len(files)} files")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
