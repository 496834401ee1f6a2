"""A test CA and a certificate for 127.0.0.1, for the emulators that serve HTTPS (msal
only talks to https authorities; the providers only to https addresses)."""

from pathlib import Path

import trustme


def write_certificate(folder: Path) -> tuple[str, str]:
    """Write a CA bundle and a server certificate (with its key) for 127.0.0.1 into
    ``folder``; returns (CA bundle file, certificate and key file)."""
    ca = trustme.CA()
    ca_file, server_file = folder / "ca.pem", folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_file))
    return str(ca_file), str(server_file)
