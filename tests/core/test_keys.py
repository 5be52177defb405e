"""Ed25519 keys never show their secret and never leave the process by pickling."""

from __future__ import annotations

import base64
import copy
import pickle
from collections.abc import Callable

import base58
import pytest

from trustspace.core.keys import SigningKey, VerifyingKey

SEED = bytes(range(32))


def secret_spellings(key: SigningKey) -> list[str]:
    seed = key.export_seed()
    return [
        seed.hex(),
        seed.hex().upper(),
        base58.b58encode(seed).decode(),
        base64.b64encode(seed).decode().rstrip("="),
        base64.urlsafe_b64encode(seed).decode().rstrip("="),
        key.export_multibase(),
        key.export_multibase()[1:],
        repr(seed),
        str(list(seed)),
    ]


@pytest.mark.parametrize("render", [repr, str, lambda k: f"{k}", lambda k: f"{k!r}", lambda k: repr([k])])
def test_text_forms_never_contain_the_seed(render: Callable[[SigningKey], str]) -> None:
    key = SigningKey.from_seed(SEED)
    text = render(key)
    for spelling in secret_spellings(key):
        assert spelling not in text
    assert key.public.multibase in text


def test_generated_key_repr_hides_its_seed() -> None:
    key = SigningKey.generate()
    for spelling in secret_spellings(key):
        assert spelling not in repr(key)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused(protocol: int) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SigningKey.from_seed(SEED), protocol=protocol)


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy])
def test_copying_is_refused(duplicate: Callable[[SigningKey], SigningKey]) -> None:
    with pytest.raises(TypeError):
        duplicate(SigningKey.from_seed(SEED))


def test_signing_key_has_no_instance_dict_to_dump() -> None:
    assert not hasattr(SigningKey.from_seed(SEED), "__dict__")


def test_sign_verify_and_multibase_round_trip() -> None:
    key = SigningKey.from_seed(SEED)
    signature = key.sign(b"message")
    assert key.public.verify(signature, b"message")
    assert not key.public.verify(signature, b"messagE")
    assert VerifyingKey.from_multibase(key.public.multibase) == key.public
    assert SigningKey.from_multibase(key.export_multibase()).public == key.public
    assert key.public.multibase.startswith("z6Mk")
