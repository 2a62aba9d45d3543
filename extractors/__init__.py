"""memoird.extractors"""
