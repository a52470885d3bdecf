"""TOTP against the RFC 6238 appendix B test vectors."""

from __future__ import annotations

import pytest

from monitor.totp import totp, verify

SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("at", "sha1", "sha256", "sha512"), VECTORS, ids=[str(v[0]) for v in VECTORS])
def test_rfc6238_vectors(at: int, sha1: str, sha256: str, sha512: str) -> None:
    for algorithm, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[algorithm], at=at, digits=8, algorithm=algorithm) == expected


def test_base32_secret_as_apps_show_it() -> None:
    assert totp("jbsw y3dp ehpk 3pxp", at=59) == totp("JBSWY3DPEHPK3PXP", at=59)
    assert len(totp("JBSWY3DPEHPK3PXP")) == 6


def test_verify_allows_one_step_of_skew() -> None:
    code = totp("JBSWY3DPEHPK3PXP", at=1000)
    assert verify("JBSWY3DPEHPK3PXP", code, at=1000 + 30)
    assert not verify("JBSWY3DPEHPK3PXP", code, at=1000 + 90)


def test_bad_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="base32"):
        totp("not base32 !!")
