"""memoird.store"""
