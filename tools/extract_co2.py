#!/usr/bin/env python3
"""Extracts the embedded default data set: the weekly Mauna Loa atmospheric CO2 series as shipped with
statsmodels (`statsmodels.datasets.co2`), 1958-03-29 .. 2001-12-29, into data/co2_weekly.csv.

Run by hand (needs `pip install statsmodels pandas`):

    python3 tools/extract_co2.py

The gaps of the series are kept as empty fields: filling them is the job of the `lstm` command
(`--fill linear`, which the default data set uses; it counts and reports what it filled).
"""
import os

import statsmodels
import statsmodels.api as sm

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "co2_weekly.csv")


def main():
    df = sm.datasets.co2.load_pandas().data
    with open(OUT, "w") as f:
        f.write("date,co2\n")
        for date, value in zip(df.index, df["co2"]):
            f.write(f"{date.date().isoformat()},{'' if value != value else f'{value:.1f}'}\n")
    print(f"wrote {OUT}: {len(df)} weeks, {int(df['co2'].isna().sum())} missing (statsmodels {statsmodels.__version__})")


if __name__ == "__main__":
    main()
