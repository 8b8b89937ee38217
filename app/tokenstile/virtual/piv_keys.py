"""The virtual PIV card's cryptography: its slot keys and its management key.

A PIV card does the raw private-key operation and nothing more (SP 800-73-4 Part 2
3.2.4): for ECC it signs the hash it is given (left-padded to the field size), for RSA
it exponentiates a block the host has already padded. The management key (9B) proves
the administrator with a block cipher in ECB mode, one block at a time.
"""

from __future__ import annotations

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tokenstile.errors import TokenstileError
from tokenstile.virtual.piv_objects import Algorithm, tlv
from tokenstile.virtual.piv_state import PivPrivateKey

_CURVES: dict[Algorithm, tuple[ec.EllipticCurve, hashes.HashAlgorithm]] = {
    Algorithm.ECCP256: (ec.SECP256R1(), hashes.SHA256()),
    Algorithm.ECCP384: (ec.SECP384R1(), hashes.SHA384()),
}

MANAGEMENT_KEY_LENGTHS = {
    Algorithm.TDES: 24,
    Algorithm.AES128: 16,
    Algorithm.AES192: 24,
    Algorithm.AES256: 32,
}


class KeyOperationError(TokenstileError):
    """Input the key cannot work on (the card answers 6A80)."""

    code = "key_operation"


def generate_key(algorithm: Algorithm) -> PivPrivateKey:
    if algorithm == Algorithm.RSA2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[algorithm][0])
    raise KeyOperationError(f"not an asymmetric algorithm: {algorithm!r}")


def algorithm_of(key: PivPrivateKey) -> Algorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size != 2048:
            raise KeyOperationError("only RSA-2048 keys")
        return Algorithm.RSA2048
    for algorithm, (curve, _) in _CURVES.items():
        if key.curve.name == curve.name:
            return algorithm
    raise KeyOperationError(f"unsupported curve {key.curve.name}")


def public_key_template(key: PivPrivateKey) -> bytes:
    """GENERATE ASYMMETRIC KEY PAIR's answer, Part 2 Table 11: 7F49 with 81/82 or 86."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        modulus = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        exponent = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return tlv(0x7F49, tlv(0x81, modulus) + tlv(0x82, exponent))
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return tlv(0x7F49, tlv(0x86, point))


def sign(key: PivPrivateKey, data: bytes) -> bytes:
    """The raw private-key operation of GENERAL AUTHENTICATE with a challenge (81)."""
    if isinstance(key, rsa.RSAPrivateKey):
        return _rsa_private(key, data)
    curve_algorithm = algorithm_of(key)
    hash_algorithm = _CURVES[curve_algorithm][1]
    if not 0 < len(data) <= hash_algorithm.digest_size:
        raise KeyOperationError("an ECDSA input longer than the field")
    # A shorter input is the same integer left-padded (SP 800-73-4 Part 2 3.2.4).
    digest = data.rjust(hash_algorithm.digest_size, b"\x00")
    return key.sign(digest, ec.ECDSA(Prehashed(hash_algorithm)))


def key_agreement(key: PivPrivateKey, peer_point: bytes) -> bytes:
    """ECDH with the card's key (exponentiation, tag 85): the shared secret's x coordinate."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyOperationError("key agreement needs an EC key")
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(key.curve, peer_point)
    except ValueError as exc:
        raise KeyOperationError("not a point on the card key's curve") from exc
    return key.exchange(ec.ECDH(), peer)


def _rsa_private(key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    size = key.key_size // 8
    numbers = key.private_numbers()
    modulus = numbers.public_numbers.n
    message = int.from_bytes(block, "big")
    if len(block) != size or message >= modulus:
        raise KeyOperationError("an RSA input that is not one block below the modulus")
    # Chinese remainder theorem, as a card computes it.
    m1 = pow(message, numbers.dmp1, numbers.p)
    m2 = pow(message, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (m1 - m2)) % numbers.p
    return (m2 + h * numbers.q).to_bytes(size, "big")


def management_block_size(algorithm: Algorithm) -> int:
    return 8 if algorithm == Algorithm.TDES else 16


def check_management_key(algorithm: Algorithm, key: bytes) -> None:
    expected = MANAGEMENT_KEY_LENGTHS.get(algorithm)
    if expected is None:
        raise KeyOperationError(f"not a management key algorithm: {algorithm!r}")
    if len(key) != expected:
        raise KeyOperationError(f"a {algorithm.name} management key is {expected} bytes")


def management_encrypt(algorithm: Algorithm, key: bytes, block: bytes) -> bytes:
    """One block enciphered with the management key (ECB: one block, no chaining)."""
    check_management_key(algorithm, key)
    if len(block) != management_block_size(algorithm):
        raise KeyOperationError("not one cipher block")
    cipher_algorithm = TripleDES(key) if algorithm == Algorithm.TDES else algorithms.AES(key)
    encryptor = Cipher(cipher_algorithm, modes.ECB()).encryptor()  # noqa: S305 - one block
    return encryptor.update(block) + encryptor.finalize()
