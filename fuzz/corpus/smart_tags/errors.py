# modelop.score

def score(r):
    pass
# modelop.score
class A:
    def score(self): pass
