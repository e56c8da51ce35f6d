"""The dataset readers on fake trees: records, conventions and the errors for wrong layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from reid_core.data import (
    Record,
    build_dataset,
    dataset_name,
    image_folder,
    image_records,
)
from reid_core.errors import DatasetError

from .conftest import MARKET_FILES, write_image, write_tree


def names(records: list[Record]) -> list[tuple[str, int, int]]:
    return [(Path(r.path).name, r.pid, r.camid) for r in records]


# -- Market-1501 ---------------------------------------------------------------------------------


def test_market1501_records_and_pid_conventions(market_tree: Path) -> None:
    ds = build_dataset("market1501", market_tree)
    assert ds.name == "market1501"
    assert ds.root.name == "Market-1501-v15.09.15"
    # train pids 2 and 7 relabelled to 0 and 1; camera c1 is camid 0; Thumbs.db skipped
    assert names(ds.train) == [
        ("0002_c1s1_000451_03.jpg", 0, 0),
        ("0002_c2s1_000301_01.jpg", 0, 1),
        ("0007_c3s3_000101_02.jpg", 1, 2),
        ("0007_c6s1_000501_01.jpg", 1, 5),
    ]
    assert names(ds.query) == [("0001_c1s1_001051_00.jpg", 1, 0), ("0003_c4s1_000201_00.jpg", 3, 3)]
    # junk (-1) dropped, distractor (0000) kept with pid 0
    assert sorted(names(ds.gallery)) == [
        ("0000_c3s1_000001_01.jpg", 0, 2),
        ("0001_c1s1_001101_02.jpg", 1, 0),
        ("0001_c2s1_000301_01.jpg", 1, 1),
        ("0003_c5s2_000001_01.jpg", 3, 4),
    ]
    assert ds.num_train_pids == 2 and ds.num_cameras == 6
    assert all(Path(r.path).is_file() for r in ds.gallery)


def test_market1501_root_may_be_the_dataset_folder(market_tree: Path) -> None:
    direct = build_dataset("Market-1501", market_tree / "Market-1501-v15.09.15")
    assert names(direct.query) == names(build_dataset("market1501", market_tree).query)


def test_market1501_distractor_and_junk_queries_are_dropped(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in MARKET_FILES.items()}
    files["query"] += ["0000_c2s1_000001_00.jpg", "-1_c3s1_000001_00.jpg"]
    ds = build_dataset("market1501", write_tree(tmp_path / "market1501", files))
    assert {r.pid for r in ds.query} == {1, 3}


def test_market1501_malformed_name_names_the_file(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in MARKET_FILES.items()}
    files["query"].append("person_c1s1.jpg")
    write_tree(tmp_path / "market1501", files)
    with pytest.raises(DatasetError, match=r"person_c1s1\.jpg"):
        build_dataset("market1501", tmp_path)


def test_market1501_camera_zero_is_rejected(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in MARKET_FILES.items()}
    files["query"].append("0004_c0s1_000001_00.jpg")
    write_tree(tmp_path / "market1501", files)
    with pytest.raises(DatasetError, match=r"0004_c0s1_000001_00\.jpg"):
        build_dataset("market1501", tmp_path)


def test_market1501_missing_folder_says_what_is_missing_and_found(tmp_path: Path) -> None:
    files = {k: v for k, v in MARKET_FILES.items() if k != "query"}
    folder = write_tree(tmp_path / "market1501", files)
    with pytest.raises(DatasetError) as e:
        build_dataset("market1501", tmp_path)
    msg = str(e.value)
    assert "query/" in msg and str(folder) in msg
    assert "bounding_box_test/" in msg and "found:" in msg


def test_market1501_wrong_root_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DatasetError) as e:
        build_dataset("market1501", tmp_path)
    msg = str(e.value)
    assert "bounding_box_train/" in msg and "images/" in msg and "readme.txt" in msg


def test_market1501_root_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        build_dataset("market1501", tmp_path / "nowhere")


def test_market1501_empty_split(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in MARKET_FILES.items()}
    files["query"] = ["Thumbs.db"]
    write_tree(tmp_path / "market1501", files)
    with pytest.raises(DatasetError, match=r"query split .* has no images"):
        build_dataset("market1501", tmp_path)


def test_market1501_split_with_only_junk_is_empty(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in MARKET_FILES.items()}
    files["query"] = ["-1_c1s1_000001_00.jpg"]
    write_tree(tmp_path / "market1501", files)
    with pytest.raises(DatasetError, match="query split .* no usable images"):
        build_dataset("market1501", tmp_path)


# -- DukeMTMC-reID -------------------------------------------------------------------------------

DUKE_FILES = {
    "bounding_box_train": ["0001_c2_f0046182.jpg", "0001_c8_f0100000.jpg", "0005_c1_f0000001.jpg"],
    "query": ["0005_c2_f0046985.jpg"],
    "bounding_box_test": ["0005_c7_f0010000.jpg", "0019_c1_f0002021.jpg"],
}


def test_dukemtmcreid(tmp_path: Path) -> None:
    write_tree(tmp_path / "DukeMTMC-reID", DUKE_FILES)
    ds = build_dataset("dukemtmcreid", tmp_path)
    assert names(ds.train) == [
        ("0001_c2_f0046182.jpg", 0, 1),
        ("0001_c8_f0100000.jpg", 0, 7),
        ("0005_c1_f0000001.jpg", 1, 0),
    ]
    assert names(ds.query) == [("0005_c2_f0046985.jpg", 5, 1)]
    assert names(ds.gallery) == [("0005_c7_f0010000.jpg", 5, 6), ("0019_c1_f0002021.jpg", 19, 0)]


def test_dukemtmcreid_malformed_name(tmp_path: Path) -> None:
    files = {k: list(v) for k, v in DUKE_FILES.items()}
    files["bounding_box_test"].append("0019-c1-f0002021.jpg")
    write_tree(tmp_path / "DukeMTMC-reID", files)
    with pytest.raises(DatasetError, match=r"0019-c1-f0002021\.jpg"):
        build_dataset("duke", tmp_path)


# -- MSMT17 --------------------------------------------------------------------------------------


def write_msmt(root: Path, version: str, extra_lines: dict[str, list[str]] | None = None) -> Path:
    train_dir, test_dir = ("train", "test") if version == "V1" else ("mask_train_v2", "mask_test_v2")
    folder = root / f"MSMT17_{version}"
    lists = {
        "list_train.txt": [(train_dir, "0000/0000_000_01_0303morning_0015_0.jpg", 0), (train_dir, "0003/0003_004_15_0303noon_0100_1.jpg", 3)],
        "list_val.txt": [(train_dir, "0000/0000_010_05_0303morning_0030_0.jpg", 0)],
        "list_query.txt": [(test_dir, "0000/0000_000_02_0113morning_0001_0.jpg", 0)],
        "list_gallery.txt": [(test_dir, "0000/0000_001_06_0113noon_0002_0.jpg", 0), (test_dir, "0002/0002_000_01_0113noon_0003_0.jpg", 2)],
    }
    for list_name, entries in lists.items():
        lines = []
        for d, rel, pid in entries:
            write_image(folder / d / rel)
            lines.append(f"{rel} {pid}")
        lines += (extra_lines or {}).get(list_name, [])
        (folder / list_name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_msmt17(tmp_path: Path, version: str) -> None:
    write_msmt(tmp_path, version)
    ds = build_dataset("msmt17", tmp_path)
    assert ds.root.name == f"MSMT17_{version}"
    # train = list_train + list_val, relabelled; cameras from the third field, 1-based on disk
    assert names(ds.train) == [
        ("0000_000_01_0303morning_0015_0.jpg", 0, 0),
        ("0003_004_15_0303noon_0100_1.jpg", 1, 14),
        ("0000_010_05_0303morning_0030_0.jpg", 0, 4),
    ]
    # pid 0 is a person in MSMT17: kept in query and gallery
    assert names(ds.query) == [("0000_000_02_0113morning_0001_0.jpg", 0, 1)]
    assert names(ds.gallery) == [("0000_001_06_0113noon_0002_0.jpg", 0, 5), ("0002_000_01_0113noon_0003_0.jpg", 2, 0)]
    assert ds.num_cameras == 15


def test_msmt17_version_choice_and_mismatch(tmp_path: Path) -> None:
    write_msmt(tmp_path, "V1")
    assert build_dataset("msmt17", tmp_path, version="V1").root.name == "MSMT17_V1"
    with pytest.raises(DatasetError, match="mask_train_v2/"):
        build_dataset("msmt17", tmp_path / "MSMT17_V1", version="V2")


def test_msmt17_bad_list_line_names_file_and_line(tmp_path: Path) -> None:
    write_msmt(tmp_path, "V1", {"list_query.txt": ["0001/0001_000_03_x.jpg"]})
    with pytest.raises(DatasetError, match=r"list_query\.txt:2"):
        build_dataset("msmt17", tmp_path)


def test_msmt17_unparseable_file_name(tmp_path: Path) -> None:
    write_msmt(tmp_path, "V2", {"list_gallery.txt": ["0001/img-0001.jpg 1"]})
    with pytest.raises(DatasetError, match=r"img-0001\.jpg"):
        build_dataset("msmt17", tmp_path)


def test_msmt17_missing_list_file(tmp_path: Path) -> None:
    folder = write_msmt(tmp_path, "V1")
    (folder / "list_val.txt").unlink()
    with pytest.raises(DatasetError, match=r"lacks list_val\.txt"):
        build_dataset("msmt17", tmp_path)


def test_msmt17_listed_file_missing(tmp_path: Path) -> None:
    folder = write_msmt(tmp_path, "V1")
    (folder / "test" / "0000" / "0000_000_02_0113morning_0001_0.jpg").unlink()
    with pytest.raises(DatasetError, match=r"0000_000_02_0113morning_0001_0\.jpg, which does not exist"):
        build_dataset("msmt17", tmp_path)


# -- CUHK03-NP -----------------------------------------------------------------------------------

CUHK_FILES = {
    "bounding_box_train": ["0001_c1_1.png", "0001_c2_2.png", "0004_c1_1.png"],
    "query": ["0010_c1_1.png"],
    "bounding_box_test": ["0010_c2_3.png", "0011_c1_1.png"],
}


@pytest.mark.parametrize("variant", ["detected", "labeled"])
def test_cuhk03np(tmp_path: Path, variant: str) -> None:
    for v in ("detected", "labeled"):
        write_tree(tmp_path / "cuhk03-np" / v, CUHK_FILES)
    ds = build_dataset(f"cuhk03np_{variant}", tmp_path)
    assert ds.root == tmp_path / "cuhk03-np" / variant
    assert ds.name == f"cuhk03np_{variant}"
    assert names(ds.train) == [("0001_c1_1.png", 0, 0), ("0001_c2_2.png", 0, 1), ("0004_c1_1.png", 1, 0)]
    assert names(ds.query) == [("0010_c1_1.png", 10, 0)]


def test_cuhk03np_root_may_be_the_variant_folder(tmp_path: Path) -> None:
    folder = write_tree(tmp_path / "cuhk03-np" / "labeled", CUHK_FILES)
    assert build_dataset("cuhk03np_labeled", folder).root == folder


def test_cuhk03np_missing_variant(tmp_path: Path) -> None:
    write_tree(tmp_path / "cuhk03-np" / "detected", CUHK_FILES)
    with pytest.raises(DatasetError, match="labeled/"):
        build_dataset("cuhk03np_labeled", tmp_path)


# -- generic folders ------------------------------------------------------------------------------


def write_folder_dataset(root: Path, with_train: bool = True) -> Path:
    files = {
        "query/alice": ["a_c1_0.jpg"],
        "query/bob": ["b_c3_0.jpg"],
        "gallery/alice": ["a_c2_1.jpg", "a_c3_2.jpg"],
        "gallery/bob": ["b_c1_1.jpg"],
        "gallery/carol": ["c_c2_0.jpg"],
    }
    if with_train:
        files |= {"train/7": ["x_c1_0.jpg", "x_c2_0.jpg"], "train/3": ["y_c1_0.jpg"]}
    return write_tree(root, files)


def test_folder_dataset_with_camera_regex(tmp_path: Path) -> None:
    ds = image_folder(write_folder_dataset(tmp_path), camera_pattern=r"_c(\d+)_")
    # names numbered from 1 in sorted order, shared by query and gallery; cameras 1..3 -> 0..2
    assert names(ds.query) == [("a_c1_0.jpg", 1, 0), ("b_c3_0.jpg", 2, 2)]
    assert names(ds.gallery) == [("a_c2_1.jpg", 1, 1), ("a_c3_2.jpg", 1, 2), ("b_c1_1.jpg", 2, 0), ("c_c2_0.jpg", 3, 1)]
    # numeric identity folders keep their number before relabelling: 3 -> 0, 7 -> 1
    assert names(ds.train) == [("y_c1_0.jpg", 0, 0), ("x_c1_0.jpg", 1, 0), ("x_c2_0.jpg", 1, 1)]


def test_folder_dataset_camera_csv_overrides_pattern(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path, with_train=False)
    (root / "cams.csv").write_text("path,camera\nquery/alice/a_c1_0.jpg,north\nb_c3_0.jpg,south\n")
    ds = image_folder(root, camera_pattern=r"_c(\d+)_", camera_csv="cams.csv")
    # labels 1, 2, 3 from names and north/south from the CSV: sorted as text -> 1,2,3,north,south
    assert names(ds.query) == [("a_c1_0.jpg", 1, 3), ("b_c3_0.jpg", 2, 4)]
    assert ds.train == []


def test_folder_dataset_unknown_camera_names_the_file(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path)
    write_image(root / "gallery" / "bob" / "nocam.jpg")
    with pytest.raises(DatasetError, match=r"nocam\.jpg"):
        image_folder(root)


def test_folder_dataset_images_outside_identity_folders(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path)
    write_image(root / "query" / "stray_c1_0.jpg")
    with pytest.raises(DatasetError, match="one sub-folder per identity"):
        image_folder(root)


def test_folder_dataset_missing_gallery(tmp_path: Path) -> None:
    write_tree(tmp_path, {"query/alice": ["a_c1_0.jpg"]})
    with pytest.raises(DatasetError, match="lacks gallery/"):
        build_dataset("folder", tmp_path)


def test_folder_dataset_bad_csv_columns(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path)
    (root / "cams.csv").write_text("file,cam\na.jpg,1\n")
    with pytest.raises(DatasetError, match="path,camera"):
        image_folder(root, camera_csv=root / "cams.csv")


def test_image_records_for_extraction(tmp_path: Path) -> None:
    write_tree(tmp_path, {"bob": ["1_c2.jpg"], "alice": ["2_c1.jpg", "3_c1.png"], ".": ["loose_c3.jpg"]})
    recs = image_records(tmp_path, camera_pattern=r"c(\d)")
    assert [(str(Path(r.path).relative_to(tmp_path)), r.pid, r.camid) for r in recs] == [
        ("alice/2_c1.jpg", 0, 0),
        ("alice/3_c1.png", 0, 0),
        ("bob/1_c2.jpg", 1, 1),
        ("loose_c3.jpg", -1, 2),
    ]
    assert {r.camid for r in image_records(tmp_path)} == {0}
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="has no images"):
        image_records(tmp_path / "empty")


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("Market-1501", "market1501"), ("market", "market1501"), ("DukeMTMC-reID", "dukemtmcreid"),
     ("MSMT17", "msmt17"), ("cuhk03-np_labeled", "cuhk03np_labeled"), ("synthetic", "synthetic")],
)
def test_dataset_names(given: str, canonical: str) -> None:
    assert dataset_name(given) == canonical


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(DatasetError, match="market1501.*msmt17"):
        build_dataset("imagenet", ".")
