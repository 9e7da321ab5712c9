"""cvbench.export"""
