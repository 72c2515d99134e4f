"""`config.cache`: the Redis backend's client kept per pool, and the window counter."""

import uuid

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from config.cache import RedisCache, window_hit


def test_the_redis_backend_keeps_one_client_per_pool():
    cache = caches["throttle"]
    assert isinstance(cache, RedisCache)

    reads = {id(cache._cache.get_client("a")) for _ in range(3)}
    writes = {id(cache._cache.get_client("a", write=True)) for _ in range(3)}

    assert len(reads) == len(writes) == 1


def test_a_window_counts_its_hits_in_redis_and_expires():
    cache = caches["throttle"]
    key, other = f"window-{uuid.uuid4().hex}", f"window-{uuid.uuid4().hex}"

    hits = [window_hit(cache, key, 60) for _ in range(3)]

    assert hits == [1, 2, 3]
    assert window_hit(cache, other, 60) == 1
    assert cache.get(key) == 3
    full_key = cache.make_and_validate_key(key)
    assert 0 < cache._cache.get_client(full_key).ttl(full_key) <= 60


def test_a_window_counts_its_hits_in_any_other_cache():
    cache = LocMemCache(f"windows-{uuid.uuid4().hex}", {})

    hits = [window_hit(cache, "k", 60) for _ in range(3)]

    assert hits == [1, 2, 3]
    assert window_hit(cache, "k2", 60) == 1
