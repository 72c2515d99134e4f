"""`config.sql.chunked`: id lists cut to fit one IN clause."""

from config.sql import ID_CHUNK, chunked


def test_chunked_cuts_a_list_into_slices_of_the_size_in_order():
    assert list(chunked([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


def test_chunked_of_an_exact_multiple_has_no_empty_tail():
    assert list(chunked([1, 2, 3, 4], 2)) == [[1, 2], [3, 4]]


def test_chunked_of_nothing_is_nothing():
    assert list(chunked([], 3)) == []


def test_chunked_keeps_the_sequence_type():
    assert list(chunked((1, 2, 3), 2)) == [(1, 2), (3,)]


def test_chunked_defaults_to_the_id_chunk():
    ids = list(range(ID_CHUNK * 2 + 1))

    chunks = list(chunked(ids))

    assert ID_CHUNK == 2000
    assert [len(chunk) for chunk in chunks] == [2000, 2000, 1]
    assert [id_ for chunk in chunks for id_ in chunk] == ids
