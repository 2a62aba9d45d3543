"""memoird.editor"""
