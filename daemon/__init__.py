"""memoird.daemon"""
