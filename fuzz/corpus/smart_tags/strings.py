x = '''
# modelop.score
'''
y = "\
# keel.score"
# modelop.training
def train(a=(1,
  2), b: 'pd.DataFrame' = {"k": [1, 2]}):
    ...
