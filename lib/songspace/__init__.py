"""songspace: cluster songs without labels from audio and multilingual lyrics with VAEs.

Data flows one way, one module per job (the notebook that uses it in brackets):

config (every setting and path) -> collection / data / validation (00) -> audio / features / lyrics (01)
-> scaling / represent -> models / train / runio / runs (02, 03) -> sweep (04)
-> cluster / evaluate / compare / export / embed2d (05) -> summary / plots / report (06).
"""

__version__ = "0.1.0"
