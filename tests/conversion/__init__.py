"""Converter tests (a package: module names like test_hourglass recur in other test folders)."""
