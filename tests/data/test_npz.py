"""Your own data: mlexp.data.arrays(...) and data.name=npz. Round trips of every kind (tabular, sequences with
and without lengths, images), the fingerprint (arrays == saved file), a one-line DataError naming the file
and the expectation for every bad input, the data.json fingerprint refusal, and tiny MLP / GRU runs."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import mlexp.data as data
from mlexp.config import ConfigError, validate, validate_dataset
from mlexp.config.defaults import base_config
from mlexp.data import DataError, arrays, load
from mlexp.io import workdir as wd


def npz_cfg(path, **kw):
  return {'name': 'npz', 'path': str(path), **kw}


def tabular(n_train=12, n_test=6, d=5, seed=0):
  rng = np.random.default_rng(seed)
  return dict(x_train=rng.normal(size=(n_train, d)), y_train=np.arange(n_train) % 3,
              x_test=rng.normal(size=(n_test, d)), y_test=np.arange(n_test) % 3)


def sequences(seed=0, t=7, c=2):
  rng = np.random.default_rng(seed)
  return dict(x_train=rng.normal(size=(10, t, c)).astype(np.float32), y_train=np.arange(10) % 2,
              x_test=rng.normal(size=(4, t - 2, c)).astype(np.float32), y_test=np.arange(4) % 2,
              lengths_train=1 + np.arange(10) % t, lengths_test=np.array([1, 2, 3, t - 2]))


def images(seed=0):
  rng = np.random.default_rng(seed)
  return dict(x_train=rng.uniform(0, 255, size=(8, 4, 5, 1)).astype(np.uint8), y_train=np.arange(8) % 4,
              x_test=rng.uniform(0, 255, size=(4, 4, 5, 1)).astype(np.uint8), y_test=np.array([0, 1, 2, 3]))


def saved(tmp_path, a, name='d.npz'):
  path = str(tmp_path / name)
  np.savez(path, **a)
  return path


def one_line(e) -> str:
  msg = str(e.value)
  assert '\n' not in msg, msg
  return msg


# ---------------------------------------------------------------- round trips

def test_exports():
  assert data.arrays is arrays and isinstance(arrays(**tabular()), data.Arrays)
  assert 'npz' in data.DATASETS


def test_tabular_round_trip(tmp_path):
  a = arrays(**tabular(), class_names=('a', 'b', 'c'))
  path = a.save(str(tmp_path / 'tab.npz'))
  assert sorted(np.load(path).files) == ['class_names', 'x_test', 'x_train', 'y_test', 'y_train']
  ds = load(npz_cfg(path, standardize=False))
  assert (ds.kind, ds.feature_shape, ds.num_classes, ds.class_names) == ('tabular', (5,), 3, ('a', 'b', 'c'))
  assert ds.train.x.dtype == np.float32 and ds.train.y.dtype == np.int32 and ds.train.lengths is None
  np.testing.assert_allclose(ds.train.x, tabular()['x_train'].astype(np.float32))
  np.testing.assert_array_equal(ds.test.y, tabular()['y_test'])
  assert ds.fingerprint == a.fingerprint and len(a.fingerprint) == 16
  assert ds.name == 'tab.npz' and os.path.abspath(path) in ds.source
  assert (a.kind, a.num_classes) == ('tabular', 3)
  assert repr(a) == f'Arrays(tabular: x_train (12, 5), x_test (6, 5), 3 classes, fingerprint {a.fingerprint})'


def test_tabular_is_standardized_per_feature_with_train_statistics(tmp_path):
  a = tabular(n_train=40)
  a['x_train'] = a['x_train'] * [1, 10, 100, 0.1, 0] + [5, -3, 0, 1, 7]  # the last feature constant
  a['x_test'] = a['x_test'] * [1, 10, 100, 0.1, 0] + [5, -3, 0, 1, 7]
  ds = load(npz_cfg(saved(tmp_path, a)))
  np.testing.assert_allclose(ds.train.x.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(ds.train.x.std(0), [1, 1, 1, 1, 0], atol=1e-4)
  mean, std = a['x_train'].mean(0), np.where(a['x_train'].std(0) > 1e-8, a['x_train'].std(0), 1)
  np.testing.assert_allclose(ds.test.x, (a['x_test'] - mean) / std, rtol=1e-4, atol=1e-4)


def test_sequence_round_trip_keeps_lengths_and_zeroes_the_padding(tmp_path):
  s = sequences()
  a = arrays(**s)
  ds = load(npz_cfg(a.save(str(tmp_path / 'seq.npz')), standardize=False))
  assert (ds.kind, ds.feature_shape, ds.num_classes, ds.class_names) == ('sequence', (2,), 2, None)
  assert ds.train.x.shape == (10, 7, 2) and ds.test.x.shape == (4, 5, 2)  # T may differ between the splits
  np.testing.assert_array_equal(ds.train.lengths, s['lengths_train'])
  np.testing.assert_array_equal(ds.test.lengths, s['lengths_test'])
  assert ds.train.lengths.dtype == np.int32
  assert not ds.train.x[2, 3:].any() and (ds.train.x[2, :3] == s['x_train'][2, :3]).all()
  assert ds.fingerprint == a.fingerprint and 'full-length' not in ds.source


def test_rank_3_without_lengths_is_read_as_full_length_sequences(tmp_path):
  s = {k: v for k, v in sequences().items() if not k.startswith('lengths')}
  a = arrays(**s)
  ds = load(npz_cfg(a.save(str(tmp_path / 'full.npz'))))
  assert ds.kind == 'sequence' and a.kind == 'sequence'
  assert (ds.train.lengths == 7).all() and (ds.test.lengths == 5).all()
  assert 'rank-3 x without lengths_*: read as full-length sequences' in ds.source
  assert ds.fingerprint == a.fingerprint


def test_image_round_trip_is_not_standardized(tmp_path):
  im = images()
  a = arrays(**im)
  ds = load(npz_cfg(a.save(str(tmp_path / 'img.npz'))))  # data.standardize=True by default: images as given
  assert (ds.kind, ds.feature_shape, ds.num_classes) == ('image', (4, 5, 1), 4)
  np.testing.assert_array_equal(ds.train.x, im['x_train'].astype(np.float32))
  assert ds.train.lengths is None and ds.fingerprint == a.fingerprint


def test_fingerprint_is_of_the_arrays(tmp_path):
  a = tabular()
  fp = arrays(**a).fingerprint
  assert fp == arrays(**a).fingerprint == load(npz_cfg(saved(tmp_path, a))).fingerprint  # np.savez: the same
  assert load(npz_cfg(saved(tmp_path, a, 'again.npz'))).fingerprint == fp  # saved twice, the same
  b = dict(a, y_test=np.roll(a['y_test'], 1))
  assert arrays(**b).fingerprint != fp
  assert arrays(**dict(a, x_train=a['x_train'].astype(np.float32))).fingerprint != fp  # another dtype
  assert arrays(**a, class_names=['a', 'b', 'c']).fingerprint != fp


def test_labels_integral_floats_and_num_classes_over_both_splits(tmp_path):
  a = dict(tabular(), y_train=np.array([0., 1., 2.] * 4), y_test=np.array([0, 1, 5, 1, 0, 1], np.uint8))
  ds = load(npz_cfg(saved(tmp_path, a)))
  assert ds.num_classes == 6 and ds.train.y.dtype == np.int32 and ds.test.y.dtype == np.int32
  ds = load(npz_cfg(saved(tmp_path, dict(tabular(), class_names=np.array(['a', 'b', 'c', 'd'])))))
  assert ds.num_classes == 4 and ds.class_names == ('a', 'b', 'c', 'd')


def test_extra_keys_are_ignored_and_named(tmp_path):
  ds = load(npz_cfg(saved(tmp_path, dict(tabular(), x_val=np.zeros(3)))))
  assert 'ignored keys: x_val' in ds.source and ds.fingerprint == arrays(**tabular()).fingerprint


# ---------------------------------------------------------------- bad inputs

def _bad_dicts():
  t, s = tabular(), sequences()
  return {
      'x of rank 1': (dict(t, x_train=np.zeros(12)), ['rank 1', 'expected x [N, D] (tabular)',
                                                     'trailing channel axis']),
      'x of rank 5': (dict(t, x_train=np.zeros((12, 1, 1, 1, 1)), x_test=np.zeros((6, 1, 1, 1, 1))), ['rank 5']),
      'train and test ranks': (dict(t, x_test=np.zeros((6, 5, 1))), ['x_train has rank 2', 'same rank']),
      'x / y lengths': (dict(t, y_train=np.zeros(11, int)), ['y_train has shape (11,)', 'one label per example']),
      'y of rank 2': (dict(t, y_test=np.zeros((6, 1), int)), ['y_test has shape (6, 1)', 'shape (6,)']),
      'feature shapes': (dict(t, x_test=np.zeros((6, 4))), ['(12, 5) but x_test (6, 4)', 'same example shape']),
      'image sizes': (dict(images(), x_test=np.zeros((4, 5, 5, 1))), ['same example shape']),
      'sequence channels': (dict(s, x_test=np.zeros((4, 5, 3))), ['same channels']),
      'no test examples': (dict(t, x_test=np.zeros((0, 5)), y_test=np.zeros(0, int)), ['x_test has no examples']),
      'no features': (dict(t, x_train=np.zeros((12, 0)), x_test=np.zeros((6, 0))), ['at least one feature']),
      'x of strings': (dict(t, x_train=np.array([['a'] * 5] * 12)), ['x_train has dtype <U1', 'expected numbers']),
      'fractional labels': (dict(t, y_train=np.full(12, 0.5)), ['y_train has dtype float64', 'as integers']),
      'string labels': (dict(t, y_test=np.array(['a'] * 6)), ['y_test has dtype <U1', 'class labels as integers']),
      'negative labels': (dict(t, y_train=np.arange(12) - 1), ['negative label -1 at index 0', 'labels 0, 1, 2']),
      'too few class names': (dict(t, class_names=np.array(['a', 'b'])), ['label 2', 'class_names (2 names)',
                                                                          '[0, 2)']),
      'class names of rank 2': (dict(t, class_names=np.array([['a', 'b', 'c']])), ['class_names has shape (1, 3)']),
      'nan in x': (dict(t, x_test=np.where(np.eye(6, 5) > 0, np.nan, 0.0)), [', x_test: example 0 has the value nan']),
      'inf in x': (dict(t, x_train=np.full((12, 5), np.inf)), [', x_train: example 0 has the value inf']),
      'lengths with tabular x': (dict(t, lengths_train=np.ones(12, int), lengths_test=np.ones(6, int)),
                                 ['lengths_train is given but x_train has shape (12, 5) (tabular)']),
      'one lengths only': (dict(s, lengths_test=None), ['lengths_train is given without the other']),
      'lengths shape': (dict(s, lengths_train=np.ones(9, int)), ['lengths_train has shape (9,)', 'shape (10,)']),
      'length 0': (dict(s, lengths_train=np.zeros(10, int)), ['lengths_train[0] = 0', 'lengths in 1..7']),
      'length past T': (dict(s, lengths_test=np.array([1, 2, 3, 6])), ['lengths_test[3] = 6', 'lengths in 1..5']),
      'fractional lengths': (dict(s, lengths_test=np.full(4, 1.5)), ['lengths_test has dtype float64',
                                                                     'sequence lengths as integers']),
  }


BAD = _bad_dicts()


@pytest.mark.parametrize('case', list(BAD))
def test_bad_file_is_a_one_line_data_error_naming_the_file_and_the_expectation(tmp_path, case):
  a, expected = BAD[case]
  path = saved(tmp_path, {k: v for k, v in a.items() if v is not None}, 'bad.npz')
  with pytest.raises(DataError) as e:
    load(npz_cfg(path))
  msg = one_line(e)
  assert f'data.path={path}' in msg, msg
  for part in expected:
    assert part in msg, msg


@pytest.mark.parametrize('case', list(BAD))
def test_bad_arrays_are_refused_at_once(case):
  a, expected = BAD[case]
  with pytest.raises(DataError) as e:
    arrays(**a)
  msg = one_line(e)
  assert msg.startswith('mlexp.data.arrays(...)') and expected[0] in msg, msg


def test_missing_file_not_an_npz_and_missing_keys(tmp_path):
  with pytest.raises(DataError) as e:
    load(npz_cfg(tmp_path / 'nope.npz'))
  assert 'nope.npz: no such file; expected an .npz file with x_train, y_train, x_test, y_test' in one_line(e)
  text = tmp_path / 'text.npz'
  text.write_text('x,y\n1,2\n')
  with pytest.raises(DataError) as e:
    load(npz_cfg(text))
  assert f'data.path={text}: not an npz (zip) file' in one_line(e)
  npy = tmp_path / 'x.npy'
  np.save(npy, np.zeros(3))
  with pytest.raises(DataError, match='not an npz'):
    load(npz_cfg(npy))
  path = saved(tmp_path, {'x_train': np.zeros((2, 2)), 'y': np.zeros(2)})
  with pytest.raises(DataError) as e:
    load(npz_cfg(path))
  assert (f'data.path={path}: missing y_train, x_test, y_test; it has x_train, y; expected x_train, y_train, '
          'x_test, y_test (optional: lengths_train, lengths_test, class_names)') in one_line(e)


def test_object_arrays_and_damaged_files(tmp_path):
  path = saved(tmp_path, dict(tabular(), y_test=np.array([[1], [1, 2]] * 3, dtype=object)))
  with pytest.raises(DataError) as e:
    load(npz_cfg(path))
  msg = one_line(e)
  assert f'data.path={path}: cannot read y_test (Object arrays cannot be loaded' in msg, msg
  assert 'expected numeric arrays' in msg
  with pytest.raises(DataError, match=r'y_test holds Python objects; expected numeric arrays'):
    arrays(**dict(tabular(), y_test=np.array([[1], [1, 2]] * 3, dtype=object)))
  good = open(saved(tmp_path, tabular()), 'rb').read()
  cut = tmp_path / 'cut.npz'
  cut.write_bytes(good[:len(good) // 2] + good[-200:])  # the zip directory kept, a member cut
  with pytest.raises(DataError) as e:
    load(npz_cfg(cut))
  assert f'data.path={cut}' in one_line(e)


def test_npz_needs_a_path():
  c = base_config('mlp', 'npz')
  with pytest.raises(ConfigError, match=r'data.path.*set --config.data.path=FILE.npz'):
    validate(c)
  with pytest.raises(DataError, match='npz needs --config.data.path pointing at an .npz file'):
    load({'name': 'npz'})


def test_moved_rotated_refuse_tabular_data(tmp_path):
  path = saved(tmp_path, tabular())
  with pytest.raises(DataError) as e:
    load(npz_cfg(path), {'transforms': ('moved',)})
  assert "only applies to image data, but d.npz is tabular data" in one_line(e)
  assert set(load(npz_cfg(saved(tmp_path, images())), {'transforms': ('moved',)}).extra_tests) == {'moved'}


# ---------------------------------------------------------------- model / data kind after loading

def test_the_model_must_read_the_loaded_kind(tmp_path):
  c = base_config('gru', 'npz')
  c.data.path, c.batch_size = saved(tmp_path, tabular(d=20)), 4
  validate(c)  # the kind of an npz file is known only once it is read
  ds = load(npz_cfg(c.data.path))
  with pytest.raises(ConfigError) as e:
    validate_dataset(c, ds)
  assert ('data.name=npz (d.npz: tabular x [N, 20]) cannot be read by model.kind=gru, which needs sequence data '
          '(x [N, T, C] with lengths_*)') in one_line(e)
  c = base_config('mlp', 'npz')
  c.batch_size = 4
  validate_dataset(c, ds)  # an MLP reads tabular data
  validate_dataset(c, load(npz_cfg(saved(tmp_path, images()))))
  with pytest.raises(ConfigError, match=r'sequence x \[N, T, 2\]\) cannot be read by model.kind=mlp'):
    validate_dataset(c, load(npz_cfg(saved(tmp_path, sequences()))))
  c = base_config('cnn', 'npz')
  c.batch_size = 4
  with pytest.raises(ConfigError, match='tabular x .* model.kind=cnn, which needs image data'):
    validate_dataset(c, ds)


# ---------------------------------------------------------------- data.json and resumes

def test_data_json_keeps_the_fingerprint_and_refuses_other_data(tmp_path):
  w = str(tmp_path / 'w')
  os.makedirs(w)
  a, b = arrays(**tabular()), arrays(**tabular(seed=1))
  wd.write_data_info(w, a.dataset('a'))
  assert wd.read_data_info(w)['fingerprint'] == a.fingerprint
  wd.write_data_info(w, a.dataset('a'))  # the same data: a resume
  with pytest.raises(DataError) as e:
    wd.write_data_info(w, b.dataset('b'))
  assert one_line(e) == (f'--workdir={w} was trained on other data (fingerprint {a.fingerprint}, now '
                         f'{b.fingerprint} from mlexp.data.arrays(...)); use a new --workdir or the same arrays '
                         'to resume')
  assert wd.read_data_info(w)['fingerprint'] == a.fingerprint  # untouched
  plain = load({'name': 'synthetic_images', 'synthetic_n_train': 4, 'synthetic_n_test': 2})
  wd.write_data_info(w, plain)  # data without a fingerprint: nothing to compare
  assert 'fingerprint' not in wd.read_data_info(w)


# ---------------------------------------------------------------- tiny runs

def blobs(seed=0, d=8, n_train=60, n_test=30):
  rng = np.random.default_rng(seed)
  centers = rng.normal(scale=3.0, size=(3, d))
  y_train, y_test = np.arange(n_train) % 3, np.arange(n_test) % 3
  return arrays(centers[y_train] + rng.normal(size=(n_train, d)), y_train,
                centers[y_test] + rng.normal(size=(n_test, d)), y_test, class_names=['a', 'b', 'c'])


def small(c, path):
  c.data.path = path
  c.epochs, c.batch_size, c.eval_batch_size = 2, 16, 16
  c.checkpoint.enabled = False
  c.data.num_buckets = 1
  return c


def test_mlp_on_a_tabular_npz_and_a_resume_on_other_arrays(tmp_path, capsys):
  from mlexp.training.trainer import train_and_evaluate
  a = blobs()
  path = a.save(str(tmp_path / 'blobs.npz'))
  c = small(base_config('mlp', 'npz'), path)
  c.model.units = (8,)
  c.optimizer.learning_rate = 0.05
  validate(c)
  w = str(tmp_path / 'w')
  summary = train_and_evaluate(c, w)
  s = json.load(open(os.path.join(w, 'summary.json')))
  assert 0.0 <= s['mean']['test_accuracy'] <= 1.0 and s['mean']['test_accuracy'] == summary['mean']['test_accuracy']
  assert s['mean']['test_accuracy'] > 0.5  # well separated blobs
  assert s['dataset'] == 'blobs.npz' and s['runs'][0]['epochs_run'] == 2
  info = wd.read_data_info(w)
  assert info['fingerprint'] == a.fingerprint and info['kind'] == 'tabular'
  metrics = open(os.path.join(w, 'metrics.jsonl')).read()
  blobs(seed=1).save(path)  # other arrays in the same file: a resume of w is refused before any training
  with pytest.raises(DataError, match=f'--workdir={w} was trained on other data'):
    train_and_evaluate(c, w)
  assert open(os.path.join(w, 'metrics.jsonl')).read() == metrics


def test_gru_on_a_sequence_npz(tmp_path):
  from mlexp.training.trainer import train_and_evaluate
  rng = np.random.default_rng(0)
  n, t = 40, 6
  y = np.arange(n) % 2
  x = rng.normal(size=(n, t, 3))
  x[:, :, 0] += 2.0 * y[:, None]
  lengths = rng.integers(2, t + 1, n)
  a = arrays(x[:32], y[:32], x[32:], y[32:], lengths[:32], lengths[32:])
  c = small(base_config('gru', 'npz'), a.save(str(tmp_path / 'seq.npz')))
  c.model.hidden, c.model.layers = 8, 1
  validate(c)
  w = str(tmp_path / 'w')
  train_and_evaluate(c, w)
  s = json.load(open(os.path.join(w, 'summary.json')))
  assert 0.0 <= s['mean']['test_accuracy'] <= 1.0
  assert wd.read_data_info(w)['fingerprint'] == a.fingerprint and wd.read_data_info(w)['kind'] == 'sequence'


# ---------------------------------------------------------------- fuzz: loads or DataError, nothing else

from hypothesis import given, strategies as st  # noqa: E402
from test_validation import CONTENT, FUZZ, loads_or_data_error  # noqa: E402


@FUZZ
@given(content=CONTENT, kind=st.sampled_from(['tabular', 'sequences', 'images']))
def test_fuzz_npz(tmp_path_factory, content, kind):
  path = tmp_path_factory.mktemp('fuzz') / 'f.npz'
  np.savez(path, **{'tabular': tabular, 'sequences': sequences, 'images': images}[kind]())
  loads_or_data_error(path, content, lambda: load(npz_cfg(path)))
