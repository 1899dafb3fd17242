from __future__ import annotations

from link_sync.emulator.fat import fat_timestamp, has_forbidden, short_name


def sfn(name: str, taken: set[str] | None = None) -> str | None:
    used = taken or set()
    return short_name(name, lambda s: s.lower() in {t.lower() for t in used})


def test_names_that_fit_8_3_keep_their_form_upper_cased() -> None:
    assert sfn("BOX.GCO") == "BOX.GCO"
    assert sfn("parts") == "PARTS"
    assert sfn("Box.g") == "BOX.G"


def test_lossy_names_get_numbered_short_names_with_3_char_extensions() -> None:
    assert sfn("box.gcode") == "BOX~1.GCO"
    assert sfn("benchy_0.4n_0.2mm_PLA_MK4_1h.bgcode") == "BENCHY~1.BGC"
    assert sfn("my part.gco") == "MYPART~1.GCO"
    assert sfn("a+b.gco") == "A_B~1.GCO"
    assert sfn(".hidden.gcode") == "HIDDEN~1.GCO"


def test_collisions_take_the_next_free_number_then_a_hash() -> None:
    taken: set[str] = set()
    names = []
    for i in range(7):
        name = sfn(f"benchy_{i}.gcode", taken)
        assert name is not None
        taken.add(name)
        names.append(name)
    assert names[:5] == [f"BENCHY~{i}.GCO" for i in range(1, 6)]
    # from the 6th on, FAT uses a hash of the long name: XXX~HHHH
    assert all(n.split("~")[0] and len(n.split(".")[0]) <= 8 for n in names[5:])
    assert len(set(names)) == 7


def test_forbidden_characters() -> None:
    for bad in '"*:<>?|':
        assert has_forbidden(f"a{bad}b.gcode")
    assert has_forbidden("a\x01.gcode")
    assert not has_forbidden("a+b [1].gcode")


def test_fat_time_has_2_second_resolution_and_the_halved_seconds_bug() -> None:
    t = 1_712_345_679  # ...:39 seconds past the minute
    assert fat_timestamp(t) == t - 1
    assert fat_timestamp(t + 0.9) == t - 1
    minute = t - t % 60
    assert fat_timestamp(t, halved_seconds_bug=True) == minute + 38 // 2
