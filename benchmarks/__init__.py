"""The speed benchmark: PyTorch fp32, our ONNX fp32 and int8, and CTranslate2 int8, timed honestly.

Run it as ``python -m benchmarks`` (``--help`` lists the options). Every engine gets the same
512-token input, makes exactly 64 new tokens, and uses the same number of threads. Each engine
lives in its own worker process, which measures its own load time and peak RSS; the rounds are
interleaved across the engines after a warm-up, and the median and spread are reported.

Modules, one concern each:
- ``models``: the benchmark shapes, building and caching random-weight checkpoints, CT2 conversion;
- ``engines``: one small adapter per engine (import, load, generate) and the same-work check;
- ``worker``: the child process an engine, an export or a conversion runs in;
- ``memory``: peak RSS inside a process and talking to the child processes;
- ``timing``: interleaved rounds and their statistics;
- ``machine``: what machine this is and how busy it was;
- ``report``: the JSON, the Markdown table and the PNG chart.

Nothing here is imported by ``engine``; torch, transformers and ctranslate2 are imported only
inside the worker processes that need them.
"""
