"""
The suites of tools/benchmark.py and what they share:

* :mod:`.timing`: timing (alternating calls, summaries), peak memory, environment, random
  boxes, JSON reports;
* :mod:`.zoo`: the five detectors compared, each by its CPU-sized config;
* :mod:`.models`: building a model from a config, mapped embedded images, inference and
  training-iteration timings of several models side by side;
* :mod:`.adapters`: how the cost suites reach into each meta-architecture;
* :mod:`.report`: the cost suites' markdown tables and plots;
* one module per suite: :mod:`.cost` (cost, sizes, objects), :mod:`.centernet`,
  :mod:`.cornernet`, :mod:`.corner_pooling`, :mod:`.fcos_vs_detectron2`, :mod:`.cocoeval`.
"""

import anchorfree  # noqa: F401  (stand-in for detectron2._C where the compiled one is missing)
