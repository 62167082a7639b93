"""A throwaway PKI for the TLS tests, made with the openssl CLI at test time (no key is ever
committed): a root CA, an intermediate, and leaf certificates for localhost / 127.0.0.1 whose
files hold the chain (leaf, then intermediate), as a deployment would."""
import base64
import hashlib
import os
import ssl
import subprocess
import tempfile


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class ThrowawayPKI:
    def __init__(self, directory=None):
        self.dir = directory or tempfile.mkdtemp(prefix="switchboard-tls-")
        d = self.dir
        with open(os.path.join(d, "ca.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        with open(os.path.join(d, "leaf.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/CN=Switchboard Test Root",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        self._signed("intermediate", "/CN=Switchboard Test Intermediate", "root", "ca.ext", key="ec")
        self.ca = os.path.join(d, "root.pem")

    def _signed(self, name, subject, issuer, ext, key):
        d = self.dir
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else ["-newkey", "rsa:2048"]
        _openssl("req", *newkey, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "30", "-extfile", ext, cwd=d)

    def leaf(self, name, key="ec"):
        """Makes a leaf for localhost; returns (chain file, key file, leaf-only file)."""
        self._signed(name, f"/CN=localhost/O={name}", "intermediate", "leaf.ext", key=key)
        chain = os.path.join(self.dir, f"{name}-chain.pem")
        with open(chain, "w") as out:
            for part in (f"{name}.pem", "intermediate.pem"):
                with open(os.path.join(self.dir, part)) as f:
                    out.write(f.read())
        return chain, os.path.join(self.dir, f"{name}.key"), os.path.join(self.dir, f"{name}.pem")

    def leaf_with(self, name, san="DNS:localhost,IP:127.0.0.1", usage="serverAuth,clientAuth"):
        """A leaf with the given subjectAltName and extended key usage (clients of Redis need
        clientAuth); returns (chain file, key file)."""
        ext = os.path.join(self.dir, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    f"extendedKeyUsage={usage}\nsubjectAltName={san}\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        self._signed(name, f"/CN={name}", "intermediate", ext, key="ec")
        chain = os.path.join(self.dir, f"{name}-chain.pem")
        with open(chain, "w") as out:
            for part in (f"{name}.pem", "intermediate.pem"):
                with open(os.path.join(self.dir, part)) as f:
                    out.write(f.read())
        return chain, os.path.join(self.dir, f"{name}.key")

    def context(self):
        """A client context that trusts only the test root."""
        return ssl.create_default_context(cafile=self.ca)


def der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def spki_sha256_base64(pem_file):
    """What Chromium's --ignore-certificate-errors-spki-list wants: base64(sha256(SPKI DER))."""
    pub = subprocess.run(["openssl", "x509", "-in", pem_file, "-noout", "-pubkey"], check=True, capture_output=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
