"""``python -m anchorfree.compat [--write-pth]``: install the detectron2._C stand-in start-up
hook into site-packages and report whether the stand-in is in use."""

import argparse
import sysconfig

from .import_hook import is_standin_active, write_pth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-pth", action="store_true", help="write the .pth start-up hook")
    parser.add_argument("--site-packages", default=sysconfig.get_paths()["purelib"])
    args = parser.parse_args()
    if args.write_pth:
        print("wrote", write_pth(args.site_packages))
    print("detectron2._C is the anchorfree stand-in:", is_standin_active())


if __name__ == "__main__":
    main()
