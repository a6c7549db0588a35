import builtins
import pickle

import pytest

import chatgpt_providers as cp
from chatgpt_providers import errors


def test_every_error_is_a_provider_error_and_exported():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ProviderError)
        assert getattr(cp, name) is cls


def test_timeout_is_also_the_builtin_timeout_and_a_network_error():
    err = errors.TimeoutError("slow", provider="ChatGptt")
    assert isinstance(err, builtins.TimeoutError)
    assert isinstance(err, errors.NetworkError)
    with pytest.raises(builtins.TimeoutError):
        raise err


def test_fields_and_body_excerpt_masks_nonces():
    body = '<div class="wpaicg-chatbox" data-nonce="0a1b2c3d4e">' + "x" * 1000
    err = errors.ResponseError("odd", provider="P", url="https://s", status_code=200, body=body)
    assert (err.provider, err.url, err.status_code, err.partial_text) == ("P", "https://s", 200, "")
    assert "0a1b2c3d4e" not in err.body
    assert err.body.startswith('<div class="wpaicg-chatbox" data-nonce="***">')
    assert len(err.body) <= errors.BODY_EXCERPT_CHARS
    assert "0a1b2c3d4e" not in errors.excerpt('{"restNonce":"0a1b2c3d4e"}')


def test_errors_survive_pickling_with_their_fields():
    err = errors.RateLimitError("wait", retry_after=12.0, provider="P", partial_text="He")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is errors.RateLimitError
    assert (str(copy), copy.retry_after, copy.provider, copy.partial_text) == ("wait", 12.0, "P", "He")
