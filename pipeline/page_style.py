"""The look the report pages share (data docs, run health): one stylesheet, inlined into each page
so that every page is one file that opens from `file://`."""

BASE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""
