%%capture modules_output
%run modules.ipynb
