"""The Django cache shares one Redis pool per process instead of one per thread."""

import threading

from django.core.cache import caches

from core.cache import SharedBlockingConnectionPool


def _pool_in_a_new_thread():
    found = []

    def work():
        cache = caches["default"]
        cache.set("pool-probe", "1", 5)
        found.append(cache._cache._get_connection_pool(write=True))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return found[0]


def test_cache_clients_in_different_threads_share_one_pool():
    first, second = _pool_in_a_new_thread(), _pool_in_a_new_thread()
    assert isinstance(first, SharedBlockingConnectionPool)
    assert first is second


def test_different_urls_get_different_pools():
    a = SharedBlockingConnectionPool.from_url("redis://127.0.0.1:6379/1", max_connections=5)
    b = SharedBlockingConnectionPool.from_url("redis://127.0.0.1:6379/2", max_connections=5)
    assert a is not b
    assert SharedBlockingConnectionPool.from_url("redis://127.0.0.1:6379/1", max_connections=5) is a
