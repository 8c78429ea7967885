#!/usr/bin/env python3
"""`make release`: what a registry or a provider network mirror serves for one version of
terraform-provider-meshtls, from a built binary.

    release.py --binary target/release/terraform-provider-meshtls --out target/dist

Writes, for linux_amd64 (the one target this machine builds: the other platforms need a
Rust standard library and a linker for them, which none of the registries it reaches serve):

- terraform-provider-meshtls_<version>_linux_amd64.zip, holding terraform-provider-meshtls_v<version>;
- terraform-provider-meshtls_<version>_manifest.json, with the plugin protocol versions;
- terraform-provider-meshtls_<version>_SHA256SUMS over both, and its detached GPG signature
  (_SHA256SUMS.sig), made with a key generated into <out>/gnupg whose public half is
  written beside them (_signing-key.asc): a registry publishes that key.

The version is Cargo.toml's, and the binary must report the same (`--version`). The zip is
reproducible: fixed timestamps and modes, so the same binary gives the same hashes.
"""
import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

NAME = "terraform-provider-meshtls"
PLATFORMS = ("linux_amd64",)
PROTOCOL_VERSIONS = ["6.0"]
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def version():
    with open(os.path.join(REPO, "Cargo.toml"), "rb") as f:
        cargo = tomllib.load(f)
    v = cargo["package"]["version"]
    return cargo["workspace"]["package"]["version"] if isinstance(v, dict) else v


def zip_bytes(binary, member):
    """The archive, byte for byte the same for the same binary."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(binary, "rb") as f:
            z.writestr(info, f.read())
    return buf.getvalue()


def h1(zip_data):
    """The CLIs' `h1:` hash of a provider package: Go's dirhash Hash1 over the zip's files."""
    lines = []
    with zipfile.ZipFile(io.BytesIO(zip_data)) as z:
        for name in sorted(z.namelist()):
            lines.append(f"{hashlib.sha256(z.read(name)).hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def gpg(home, *args, **kw):
    return subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", "", *args], check=True,
                          capture_output=True, **kw)


def sign(out, sums):
    """A detached signature of the SHA256SUMS file with a key made for this release folder."""
    home = os.path.join(out, "gnupg")
    if not os.path.isdir(home):
        os.makedirs(home, mode=0o700)
        gpg(home, "--quick-gen-key", "meshtls release <release@meshtls.invalid>", "ed25519", "sign", "never")
    sig = sums + ".sig"
    if os.path.exists(sig):
        os.remove(sig)
    gpg(home, "--detach-sign", "--output", sig, sums)
    gpg(home, "--verify", sig, sums)
    key = gpg(home, "--armor", "--export", text=True).stdout
    return sig, key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    v = version()
    reported = subprocess.run([args.binary, "--version"], capture_output=True, text=True).stdout.split()
    if reported[-1:] != [v]:
        sys.exit(f"{args.binary} reports {' '.join(reported)!r}, but Cargo.toml says {v}: build it again")
    os.makedirs(args.out, exist_ok=True)
    prefix = os.path.join(args.out, f"{NAME}_{v}")
    files = {}
    for platform in PLATFORMS:
        data = zip_bytes(args.binary, f"{NAME}_v{v}")
        with open(f"{prefix}_{platform}.zip", "wb") as f:
            f.write(data)
        files[f"{NAME}_{v}_{platform}.zip"] = data
        print(f"{NAME}_{v}_{platform}.zip {h1(data)}")
    manifest = json.dumps({"version": 1, "metadata": {"protocol_versions": PROTOCOL_VERSIONS}}, indent=2).encode() + b"\n"
    with open(f"{prefix}_manifest.json", "wb") as f:
        f.write(manifest)
    files[f"{NAME}_{v}_manifest.json"] = manifest
    sums = f"{prefix}_SHA256SUMS"
    with open(sums, "w") as f:
        for name, data in sorted(files.items()):
            f.write(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    if shutil.which("gpg"):
        _, key = sign(args.out, sums)
        with open(f"{prefix}_signing-key.asc", "w") as f:
            f.write(key)
    else:
        sys.exit("gpg is needed to sign the SHA256SUMS file")
    print(f"release {v} in {args.out}")


if __name__ == "__main__":
    main()
