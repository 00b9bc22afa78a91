"""Report renderers (CSV, JSON, HTML, PDF) over one plain :class:`ReportData`."""
